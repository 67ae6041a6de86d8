# ruff: noqa: E501
"""Generate the bundled synthetic demo dataset in ``data/demo/``.

Every post is built from templates and slot fillers written for this project: no text comes from
any real dataset, every extremist group, handle and slogan is invented, and nothing is operational
(no weapons, targets, routes, contacts or wallets). The data exists so that the pipeline, the tests
and the docs have something realistic-looking to run on; it is not fit for real moderation.

Usage::

    python scripts/make_demo_data.py              # writes data/demo/{train,validation,test}.csv
    python scripts/make_demo_data.py --out DIR    # somewhere else (tests)

The output is deterministic: two runs write byte-identical files. After writing, the script checks
the files (columns, values, duplicates) and prints the markdown tables used in ``data/README.md``.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

SEED = 20240607
ROWS_PER_LANG = 100
# Per language: extremist 45 (15 per type), hard negatives 25 (news 9, official 8, counter 8), ordinary 30.
KIND_COUNTS = {
    "propaganda": 15,
    "recruitment": 15,
    "incitement": 15,
    "news": 9,
    "official": 8,
    "counter_speech": 8,
    "ordinary": 30,
}
EXTREMIST_KINDS = ("propaganda", "recruitment", "incitement")
LABELS = ("not_extremist", "propaganda", "recruitment", "incitement")
LANGS = ("id", "ms", "tl", "th", "my", "en", "ar")
COLUMNS = ("id", "text", "lang", "label", "extremist", "propaganda", "recruitment", "incitement", "kind")
SPLITS = ("train", "validation", "test")
LATIN = ("en", "id", "ms", "tl")
# Split pattern with period 5 -> exactly 60/20/20 for strata whose size is a multiple of 5.
SPLIT_PATTERN = ("train", "validation", "train", "test", "train")
SECOND_LABEL_SHARE = 0.25
ARTIFACT_SHARE = 0.03

# Four-byte emoji only: their escaped UTF-8 form is exactly 16 characters (\xf0\x9f\x98\x82).
EMOJI4 = ("😂", "🔥", "🙏", "💪", "😭", "👍", "🤲", "😡", "💯", "👀", "🖤", "😩")
EMOJI = EMOJI4 + ("❤️", "✊", "⚽")

# ---------------------------------------------------------------------------------------------
# Language material. Slots shared by all languages:
#   group, enemy, vermin, handle, martyr, target, slogan   (extremist vocabulary, all fictional)
#   region, n, n2, years, when, agree                      (news / official)
#   day, team, food, spot, office, fhandle, late           (ordinary posts)
# "second" holds short clauses appended to ~25% of extremist posts to give them a second label.
# ---------------------------------------------------------------------------------------------

EN = {
    "slots": {
        "group": ["Black Dawn Front", "Iron Lantern Brigade", "Ashen Banner Front"],
        "enemy": ["the tyrants", "the traitors", "the apostate rulers", "the oppressors", "the puppet regime"],
        "vermin": ["rats", "parasites", "vermin", "dogs"],
        "handle": ["@dawn_caravan_07", "@ironlantern_dm", "@ashenbanner_x"],
        "martyr": ["our martyrs", "the martyred brothers", "the lions who fell", "our shaheed brothers"],
        "target": [
            "their police posts",
            "the government offices",
            "their checkpoints",
            "the ministry buildings",
            "their barracks",
        ],
        "slogan": ["Victory or paradise", "The dawn is coming", "No peace with tyrants"],
        "region": ["a northern province", "the provincial capital", "a coastal town", "a remote district"],
        "years": ["Ten", "Five", "Seven", "Twelve"],
        "when": ["today", "this week", "on Monday"],
        "agree": [
            "step up cooperation",
            "adopt a joint work plan",
            "share early-warning data",
            "coordinate faster takedowns",
        ],
        "day": ["Saturday", "Sunday", "Friday"],
        "team": ["Harbour City FC", "the Eagles", "Northside Tigers"],
        "food": ["chilli crab", "nasi lemak", "pad thai", "laksa"],
        "spot": ["the hills", "the beach", "the lake"],
        "office": ["downtown", "remote", "hybrid, city centre"],
        "fhandle": ["@harbourcity_futsal", "@coach_dan88", "@eagles_fc"],
        "late": ["3am", "4am", "2am"],
    },
    "templates": {
        "propaganda": [
            "{martyr} of {group} gave everything while {enemy} hide like {vermin}. We will never forget them",
            "Another glorious operation by the lions of {group}! {enemy} trembled today. {slogan}!",
            "They call us terrorists. We are the only ones awake. {enemy} are {vermin}, nothing more. {group} forever",
            "Remember {martyr}. Their blood waters the path. {slogan} 🖤",
            "Only {group} stood up when everyone else bowed to {enemy}. heroes, all of them",
            "the world is split in two: us and the {vermin}. {group} showed us the way",
        ],
        "recruitment": [
            "Brothers, the caravan is leaving soon. If you are serious about the cause DM {handle} 🤝 {group} needs you",
            "Tired of sitting at home while {enemy} rule? Join the ranks of {group}. contact {handle} privately, no public replies",
            "support the brothers of {group}, every donation counts. ask {handle} how to send it, only in private",
            "we are looking for young men with courage. no experience needed, {group} will train you. dm {handle}",
            "Join the caravan. Leave this life of humiliation behind. Message {handle} and wait for instructions",
            "Sisters can help too!! spread the word and support {group}. inbox {handle} 📩",
        ],
        "incitement": [
            "Time for talk is over. Strike {target} and show {enemy} what fear feels like",
            "every one of {enemy} deserves the sword. do not let them sleep in peace",
            "Make {target} burn. {enemy} must pay in blood for what they did",
            "If you see {enemy} in the street, you know your duty. hit them hard 🔥",
            "Rise up and attack {target}! no mercy for {enemy}",
        ],
        "news": [
            "Police arrest {n} suspected members of {group} accused of recruiting teenagers online, officials say",
            "BREAKING: Court sentences {group} cell leader to {n2} years over a foiled bomb plot in {region}",
            "Investigators say the attack in {region} was claimed by {group}, which called the attackers 'martyrs' on social media",
            "{n} people injured after a blast near a market in {region}; police have not confirmed who was behind the attack",
            "Report: {group} propaganda channels lost thousands of followers after a platform takedown {when}",
            "Trial of alleged {group} recruiter begins; prosecutors say he urged followers to 'join the caravan'",
        ],
        "official": [
            "ASEAN ministers met with Australia and New Zealand {when} and agreed to {agree} on countering terrorist propaganda on social media",
            "Statement: The Ministry condemns the attack claimed by {group} and urges the public not to share its videos or propaganda",
            "Counter-terrorism officials from ASEAN, Australia and New Zealand agreed {when} to {agree} against online recruitment by groups such as {group}",
            "Public advisory: if you see posts glorifying {group} or its so-called martyrs, report them to the platform and the police hotline",
            "The national counter-terrorism agency will run workshops for teachers {when} on spotting online radicalisation and recruitment",
            "Joint statement: ministers reaffirmed that bombings and attacks by {group} have no place in any faith or community",
        ],
        "counter_speech": [
            "{group} calls them martyrs. They were murderers. My cousin lost her leg in that bomb attack and they celebrated online",
            "{years} years after the attack I still can't hear fireworks without shaking. Please don't share their propaganda",
            "To anyone being recruited by {group} in your DMs: they will use you and throw you away. talk to someone, there is help",
            "No cause justifies killing innocents. Not now, not ever. {group} does not speak for us",
            "I used to follow {group} pages. Leaving was the best decision of my life. the 'brotherhood' was a lie",
        ],
        "ordinary": [
            "this new game is absolutely killer, stayed up till {late} lol 😂",
            "Join our futsal team!! we train every {day} evening, all levels welcome ⚽ DM {fhandle} for details",
            "the concert last night was a BOMB 💣🔥 best crowd ever",
            "we will fight for the championship till the last minute. let's gooo {team}",
            "We're recruiting! junior data analyst, {office}, apply at https://example.com/careers",
            "Volunteers needed for the beach clean-up this {day}. join us, bring gloves and water 🌊",
            "Eid Mubarak to all my brothers and sisters, may your day be blessed 🙏",
            "traffic on the highway is killing me, 2 hours and still not home 😩",
            "this {food} is the bomb, honestly worth the queue",
            "our striker absolutely destroyed their defence tonight 😂 what a shot. {team} all the way",
            "who wants to join the caravan to {spot} this {day}? two seats left in the van",
            "my mum attacked the kitchen mess like special forces, done in 10 minutes 😂",
            "shoutout to the brothers at the mosque for the free iftar tonight ❤️",
            "Marathon training day 12: legs are dead, spirit is alive 💪 see you at {spot} on {day}",
            "exam tomorrow, pray that maths doesn't murder me 😭",
        ],
    },
    "second": {
        "propaganda": ["Glory to the martyrs of {group}.", "{enemy} are nothing but {vermin}.", "{slogan}!"],
        "recruitment": [
            "DM {handle} if you want in.",
            "Join {group}, the caravan is waiting.",
            "support the brothers, inbox {handle}",
        ],
        "incitement": [
            "Strike {target} without mercy!",
            "{enemy} must pay in blood.",
            "hit them wherever you find them",
        ],
    },
    "hashtags": {
        "extremist": ["#DawnIsComing", "#BlackDawn", "#IronLantern", "#NoPeaceWithTyrants"],
        "news": ["#breaking", "#news", "#terrorism"],
        "official": ["#ASEAN", "#CounterTerrorism", "#StopOnlineExtremism"],
        "counter_speech": ["#NotInMyName", "#PeaceNotHate", "#StopTerror"],
        "ordinary": ["#weekend", "#mood", "#blessed", "#lol"],
    },
    "casual": {
        "you": "u",
        "your": "ur",
        "are": "r",
        "people": "ppl",
        "please": "pls",
        "because": "bc",
        "tonight": "tonite",
        "really": "rly",
        "and": "&",
    },
}

ID = {
    "slots": {
        "group": ["Laskar Fajar Hitam", "Front Pelita Besi", "Barisan Panji Kelabu"],
        "enemy": ["para thaghut", "para pengkhianat", "rezim boneka", "para penindas", "aparat zalim"],
        "vermin": ["tikus", "anjing", "parasit", "hama"],
        "handle": ["@fajarhitam_dm", "@pelitabesi_kafilah", "@panjikelabu07"],
        "martyr": ["para syuhada kita", "saudara-saudara yang gugur", "singa-singa yang syahid"],
        "target": ["pos polisi mereka", "kantor-kantor pemerintah", "markas aparat", "gedung-gedung mereka"],
        "slogan": ["Fajar pasti datang", "Hidup mulia atau mati syahid", "Tak ada damai dengan thaghut"],
        "region": ["sebuah kabupaten di wilayah timur", "ibu kota provinsi", "sebuah kota pesisir", "wilayah utara"],
        "years": ["10", "5", "7", "12"],
        "when": ["hari ini", "pekan ini", "pada Senin"],
        "agree": [
            "memperkuat kerja sama",
            "menyusun rencana aksi bersama",
            "berbagi data peringatan dini",
            "mempercepat penghapusan konten",
        ],
        "day": ["Sabtu", "Minggu", "Jumat"],
        "team": ["Elang Muda FC", "Banteng Selatan", "Macan Kota"],
        "food": ["bakso", "sate padang", "martabak", "soto ayam"],
        "spot": ["pantai", "gunung", "danau"],
        "office": ["pusat kota", "remote", "kantor cabang"],
        "fhandle": ["@futsal_elangmuda", "@kak_rina22", "@relawan_pantai"],
        "late": ["jam 3", "jam 4", "subuh"],
    },
    "templates": {
        "propaganda": [
            "{martyr} dari {group} sudah memberi segalanya, sementara {enemy} sembunyi kayak {vermin}. kami tidak akan lupa",
            "Amaliyah gemilang dari singa-singa {group}! {enemy} gemetar hari ini. {slogan}!",
            "Mereka sebut kami teroris. padahal cuma kami yang sadar. {enemy} itu {vermin}, gak lebih",
            "Ingatlah {martyr}. darah mereka menyirami jalan ini. {slogan} 🖤",
            "cuma {group} yang berani berdiri waktu semua orang tunduk sama {enemy}. pahlawan sejati banget",
        ],
        "recruitment": [
            "Saudaraku, kafilah segera berangkat. kalau serius sama perjuangan, DM {handle} aja 🤝",
            "Capek diam di rumah sementara {enemy} berkuasa? Gabung sama {group}. hubungi {handle} lewat japri, jangan komen di sini",
            "Dukung saudara-saudara kita di {group}, setiap infaq sangat berarti. tanya caranya ke {handle}, japri aja ya",
            "Dicari pemuda yang punya nyali. tidak perlu pengalaman, {group} yang akan melatih. DM {handle}",
            "Ayo ikut kafilah! tinggalkan hidup yang hina ini. kirim pesan ke {handle} lalu tunggu arahan",
        ],
        "incitement": [
            "Waktu bicara sudah habis. Serang {target} dan tunjukkan ke {enemy} rasanya takut",
            "setiap {enemy} pantas dapat pedang. jangan biarkan mereka tidur tenang",
            "Bakar {target}! {enemy} harus bayar pakai darah",
            "kalau ketemu {enemy} di jalan, kalian tau kewajiban kalian. hajar mereka 🔥",
            "Bangkit dan serbu {target}! tidak ada ampun buat {enemy}",
        ],
        "news": [
            "Tim antiteror menangkap {n} terduga anggota {group} yang diduga merekrut remaja lewat media sosial",
            "BREAKING: Pengadilan vonis pemimpin sel {group} {n2} tahun penjara atas rencana bom yang digagalkan di {region}",
            "Penyidik: serangan di {region} diklaim {group}, yang menyebut pelakunya 'syuhada' di medsos",
            "{n} orang luka akibat ledakan dekat pasar di {region}, polisi belum memastikan siapa dalang serangan",
            "Sidang terdakwa perekrut {group} dimulai {when}, jaksa sebut ia mengajak pengikut 'ikut kafilah'",
        ],
        "official": [
            "Menteri-menteri ASEAN bertemu dengan Australia dan Selandia Baru {when} untuk {agree} melawan propaganda teroris di media sosial",
            "Pernyataan resmi: Kementerian mengecam serangan yang diklaim {group} dan mengimbau masyarakat tidak menyebarkan video atau propagandanya",
            "Pejabat kontra-terorisme ASEAN, Australia dan Selandia Baru sepakat {when} untuk {agree} terhadap rekrutmen daring oleh kelompok seperti {group}",
            "Imbauan: jika menemukan unggahan yang memuliakan {group} atau 'syuhada'-nya, laporkan ke platform dan hotline kepolisian",
            "Badan penanggulangan terorisme {when} menggelar pelatihan bagi guru untuk mengenali radikalisasi dan perekrutan online",
        ],
        "counter_speech": [
            "{group} nyebut mereka syuhada. Mereka itu pembunuh. sepupuku kehilangan kaki gara-gara bom itu",
            "{years} tahun setelah serangan itu aku masih gemetar kalau dengar petasan. tolong jangan sebar propaganda mereka",
            "Buat yang lagi direkrut {group} lewat DM: kalian cuma dimanfaatin. cerita ke orang yang kalian percaya ya",
            "Gak ada perjuangan yang membenarkan membunuh orang tak bersalah. titik. {group} bukan suara kami",
            "Dulu aku ngikutin akun-akun {group}. keluar dari situ keputusan terbaik dalam hidupku",
        ],
        "ordinary": [
            "game baru ini gila sih, killer banget, begadang sampe {late} 😂",
            "Ayo gabung tim futsal kita!! latihan tiap {day} sore, semua level boleh ⚽ DM {fhandle}",
            "konser semalem meledak parah!! crowdnya gila 🔥",
            "kita bakal berjuang sampai menit terakhir buat juara! ayo {team}!",
            "Lowongan kerja: dibutuhkan staf admin, penempatan {office}, kirim CV ke https://example.com/karir",
            "Dicari relawan bersih-bersih pantai hari {day}, ayo gabung, bawa sarung tangan sama air minum 🌊",
            "Selamat Idul Fitri, mohon maaf lahir dan batin buat semua saudaraku 🙏",
            "macet parah di tol, sudah 2 jam tidak gerak 😩",
            "{food} di sini mantap banget, worth antri sejam",
            "striker {team} ngebantai pertahanan lawan malam ini 😂 golnya cakep",
            "rombongan kajian mau berangkat ke {spot} hari {day} pagi, yang mau ikut bareng kabarin ya",
            "ibuku nyerang dapur kayak pasukan khusus, semua beres dalam 10 menit 😂",
            "makasih buat bapak-bapak masjid yang bagiin takjil gratis tadi ❤️",
            "hari ke-12 latihan lari: kaki sudah mati, semangat masih hidup 💪 {day} ini lari ke {spot}",
            "besok ujian, semoga gak dibantai soal matematika 😭",
        ],
    },
    "second": {
        "propaganda": ["Kemuliaan bagi para syuhada {group}.", "{enemy} itu cuma {vermin}.", "{slogan}!"],
        "recruitment": [
            "DM {handle} kalau mau gabung.",
            "Gabung {group}, kafilah menunggu.",
            "dukung saudara kita, japri {handle}",
        ],
        "incitement": [
            "Serang {target} tanpa ampun!",
            "{enemy} harus bayar pakai darah.",
            "hajar mereka di mana pun kalian temui",
        ],
    },
    "hashtags": {
        "extremist": ["#FajarBangkit", "#LaskarFajar", "#TakAdaDamai"],
        "news": ["#berita", "#breaking", "#terorisme"],
        "official": ["#ASEAN", "#KontraTerorisme", "#LawanRadikalisme"],
        "counter_speech": ["#BukanAtasNamaAgama", "#LawanTerorisme", "#DamaiItuIndah"],
        "ordinary": ["#weekend", "#santuy", "#mood", "#wkwk"],
    },
    "casual": {
        "yang": "yg",
        "tidak": "gak",
        "sudah": "udh",
        "banget": "bgt",
        "dengan": "dgn",
        "untuk": "utk",
        "kalau": "klo",
        "aku": "aq",
        "juga": "jg",
        "sama": "sm",
        "lagi": "lg",
        "gak": "ga",
    },
}

MS = {
    "slots": {
        "group": ["Angkatan Fajar Hitam", "Gerakan Pelita Besi", "Saf al-Nur"],
        "enemy": [
            "para taghut",
            "pengkhianat-pengkhianat",
            "rejim boneka",
            "golongan penindas",
            "pihak berkuasa zalim",
        ],
        "vermin": ["tikus", "anjing", "parasit", "babi"],
        "handle": ["@fajarhitam_my", "@pelitabesi_dm", "@safalnur_bro"],
        "martyr": ["para syuhada kita", "saudara-saudara yang gugur", "wira-wira yang syahid"],
        "target": ["balai polis mereka", "pejabat-pejabat kerajaan", "kem tentera mereka", "bangunan-bangunan mereka"],
        "slogan": ["Fajar pasti tiba", "Hidup mulia atau mati syahid", "Tiada damai dengan taghut"],
        "region": ["sebuah daerah di utara", "ibu negeri", "sebuah pekan pantai", "kawasan pedalaman"],
        "years": ["10", "5", "7", "12"],
        "when": ["hari ini", "minggu ini", "pada hari Isnin"],
        "agree": [
            "memperkukuh kerjasama",
            "menggubal pelan tindakan bersama",
            "berkongsi data amaran awal",
            "mempercepat penghapusan kandungan",
        ],
        "day": ["Sabtu", "Ahad", "Jumaat"],
        "team": ["Helang Biru FC", "Seladang Utara", "Kijang Emas"],
        "food": ["nasi lemak", "roti canai", "laksa", "satay"],
        "spot": ["pantai", "air terjun", "bukit"],
        "office": ["pusat bandar", "remote", "cawangan utara"],
        "fhandle": ["@futsal_helangbiru", "@abg_amir90", "@sukarelawan_pantai"],
        "late": ["pukul 3 pagi", "pukul 4 pagi", "subuh"],
    },
    "templates": {
        "propaganda": [
            "{martyr} dari {group} dah korbankan segalanya, tapi {enemy} menyorok macam {vermin}. kami takkan lupa",
            "Operasi gemilang oleh singa-singa {group}! {enemy} menggeletar hari ni. {slogan}!",
            "Dorang panggil kami pengganas. Sebenarnya kami je yang sedar. {enemy} tu {vermin}, tak lebih dari tu",
            "Ingatlah {martyr}. darah mereka menyuburkan jalan ni. {slogan} 🖤",
            "hanya {group} yang berani bangun bila semua orang tunduk pada {enemy}. wira sebenar",
        ],
        "recruitment": [
            "Saudara, kafilah dah nak bertolak. kalau betul-betul serius dengan perjuangan, DM {handle} 🤝",
            "Penat duduk rumah je sementara {enemy} berkuasa? Sertai barisan {group}. hubungi {handle} secara peribadi, jangan komen sini",
            "Sokong saudara-saudara kita dalam {group}, setiap sumbangan sangat bermakna. tanya {handle} caranya, PM je",
            "Kami cari anak muda yang berani. tak perlu pengalaman, {group} akan latih. DM {handle}",
            "Jom ikut kafilah! tinggalkan hidup hina ni. mesej {handle} dan tunggu arahan",
        ],
        "incitement": [
            "Masa bercakap dah tamat. Serang {target} dan tunjuk kat {enemy} apa itu takut",
            "setiap seorang dari {enemy} layak dapat pedang. jangan bagi dorang tidur lena",
            "Bakar {target}! {enemy} mesti bayar dengan darah",
            "kalau jumpa {enemy} kat jalan, korang tahu tanggungjawab korang. belasah je 🔥",
            "Bangkit dan serbu {target}! tiada belas kasihan untuk {enemy}",
        ],
        "news": [
            "Polis menahan {n} suspek anggota {group} yang didakwa merekrut remaja melalui media sosial",
            "TERKINI: Mahkamah jatuhkan hukuman penjara {n2} tahun ke atas ketua sel {group} kerana rancangan bom yang digagalkan di {region}",
            "Penyiasat: serangan di {region} didakwa oleh {group}, yang menggelar penyerang sebagai 'syuhada' di media sosial",
            "{n} cedera dalam letupan berhampiran pasar di {region}; polis belum sahkan dalang serangan",
            "Perbicaraan perekrut {group} bermula {when}, pendakwa raya kata dia ajak pengikut 'sertai kafilah'",
        ],
        "official": [
            "Menteri-menteri ASEAN bertemu rakan sejawat dari Australia dan New Zealand {when} bagi {agree} menangani propaganda pengganas di media sosial",
            "Kenyataan media: Kementerian mengutuk serangan yang didakwa oleh {group} dan menggesa orang ramai tidak berkongsi video atau propagandanya",
            "Pegawai anti-keganasan ASEAN, Australia dan New Zealand bersetuju {when} untuk {agree} terhadap rekrutmen dalam talian oleh kumpulan seperti {group}",
            "Makluman awam: jika terjumpa hantaran yang mengagungkan {group} atau 'syuhada'-nya, laporkan kepada platform dan talian polis",
            "Agensi anti-keganasan {when} mengadakan bengkel untuk guru bagi mengenal pasti radikalisasi dan perekrutan dalam talian",
        ],
        "counter_speech": [
            "{group} panggil mereka syuhada. Mereka pembunuh. sepupu aku hilang kaki sebab bom tu",
            "{years} tahun lepas serangan tu aku masih menggigil dengar bunga api. tolong jangan share propaganda dorang",
            "Untuk sesiapa yang tengah direkrut {group} dalam DM: korang cuma diperalatkan. cakap dengan orang yang korang percaya",
            "Tiada perjuangan yang menghalalkan bunuh orang tak bersalah. noktah. {group} bukan suara kami",
            "Dulu aku follow page {group}. keluar dari situ keputusan terbaik dalam hidup aku",
        ],
        "ordinary": [
            "game baru ni memang killer gila, main sampai {late} 😂",
            "Jom join team futsal kami!! latihan setiap {day} petang, semua level dialu-alukan ⚽ DM {fhandle}",
            "konsert semalam meletup habis!! crowd gempak 🔥",
            "kita akan berjuang sampai minit terakhir untuk juara! jom {team}!",
            "Jawatan kosong: pembantu tadbir, lokasi {office}, mohon di https://example.com/kerjaya",
            "Sukarelawan diperlukan untuk gotong-royong bersihkan pantai hari {day}. jom sertai, bawa sarung tangan 🌊",
            "Selamat Hari Raya Aidilfitri, maaf zahir dan batin semua 🙏",
            "jem teruk gila kat highway, dah 2 jam tak bergerak 😩",
            "{food} kat kedai ni power gila, berbaloi beratur",
            "striker {team} belasah pertahanan lawan malam ni 😂 gol cantik",
            "rombongan usrah nak bertolak ke {spot} hari {day} pagi, sesiapa nak tumpang bagitau",
            "mak aku serang dapur macam komando, semua siap dalam 10 minit 😂",
            "terima kasih pakcik-pakcik masjid yang agih bubur lambuk free tadi ❤️",
            "hari ke-12 latihan larian: kaki dah mati, semangat masih hidup 💪 {day} ni lari ke {spot}",
            "esok exam, harap tak kena bantai dengan soalan matematik 😭",
        ],
    },
    "second": {
        "propaganda": ["Kemuliaan untuk para syuhada {group}.", "{enemy} tu cuma {vermin}.", "{slogan}!"],
        "recruitment": [
            "DM {handle} kalau nak sertai.",
            "Sertai {group}, kafilah sedang menunggu.",
            "sokong saudara kita, PM {handle}",
        ],
        "incitement": [
            "Serang {target} tanpa belas kasihan!",
            "{enemy} mesti bayar dengan darah.",
            "belasah dorang di mana saja korang jumpa",
        ],
    },
    "hashtags": {
        "extremist": ["#FajarPastiTiba", "#AngkatanFajar", "#SafAlNur"],
        "news": ["#terkini", "#berita", "#keganasan"],
        "official": ["#ASEAN", "#AntiKeganasan", "#PerangiPropaganda"],
        "counter_speech": ["#BukanAtasNamaAgama", "#TolakKeganasan", "#Damai"],
        "ordinary": ["#weekend", "#jomlah", "#mood", "#hehe"],
    },
    "casual": {
        "tidak": "x",
        "tak": "x",
        "sudah": "dah",
        "dah": "dh",
        "dengan": "dgn",
        "yang": "yg",
        "untuk": "utk",
        "nak": "nk",
        "macam": "mcm",
        "kat": "kt",
        "apa": "ape",
    },
}

TL = {
    "slots": {
        "group": ["Hukbong Itim na Bukang-liwayway", "Kapatiran ng Bakal na Parol", "Black Dawn Front"],
        "enemy": ["mga taksil", "mga mapang-api", "rehimeng papet", "mga tirano", "mga opisyal na taksil"],
        "vermin": ["daga", "aso", "peste", "linta"],
        "handle": ["@itimnabukang_dm", "@bakalnaparol07", "@bdf_kapatid"],
        "martyr": ["ating mga martir", "mga kapatid na nasawi", "mga leong bumagsak"],
        "target": ["mga presinto nila", "mga opisina ng gobyerno", "mga kampo nila", "mga checkpoint nila"],
        "slogan": ["Darating ang bukang-liwayway", "Tagumpay o paraiso", "Walang kapayapaan sa mga tirano"],
        "region": [
            "isang bayan sa hilaga",
            "kabisera ng probinsya",
            "isang baybaying bayan",
            "isang liblib na barangay",
        ],
        "years": ["10", "5", "7", "12"],
        "when": ["ngayong araw", "ngayong linggo", "noong Lunes"],
        "agree": [
            "palakasin ang kooperasyon",
            "bumuo ng magkasanib na plano",
            "magbahagi ng early-warning data",
            "pabilisin ang pagtanggal ng content",
        ],
        "day": ["Sabado", "Linggo", "Biyernes"],
        "team": ["Agila FC", "Kalabaw United", "Tamaraw Boys"],
        "food": ["sisig", "lechon", "halo-halo", "adobo"],
        "spot": ["beach", "bundok", "lawa"],
        "office": ["city proper", "WFH", "main branch"],
        "fhandle": ["@agila_futsal", "@coach_jun77", "@volunteers_ph"],
        "late": ["3am", "4am", "madaling araw"],
    },
    "templates": {
        "propaganda": [
            "Ibinigay ng {martyr} ng {group} ang lahat, habang nagtatago ang {enemy} na parang {vermin}. Hinding-hindi namin sila malilimutan",
            "Isa na namang maluwalhating operasyon ng mga leon ng {group}! Nanginig ang {enemy} ngayong araw. {slogan}!",
            "Tinatawag nila kaming terorista. Kami lang ang gising. Ang {enemy} ay mga {vermin}, wala nang iba",
            "Alalahanin ang {martyr}. Dugo nila ang dumidilig sa landas na ito. {slogan} 🖤",
            "{group} lang ang tumayo nung yumuko ang lahat sa {enemy}. tunay na bayani",
        ],
        "recruitment": [
            "Mga kapatid, aalis na ang caravan. Kung seryoso ka sa laban, i-DM mo si {handle} 🤝",
            "Pagod ka na bang nakaupo lang habang naghahari ang {enemy}? Sumali ka sa hanay ng {group}. kontakin si {handle} sa private, wag dito",
            "Suportahan ang mga kapatid sa {group}, malaking tulong ang bawat donasyon. tanungin si {handle} kung paano, PM lang",
            "Naghahanap kami ng matatapang na kabataan. walang experience na kailangan, {group} ang magsasanay sayo. DM {handle}",
            "Sumama ka sa caravan! iwanan mo na ang buhay na puro kahihiyan. mag-message kay {handle} at hintayin ang utos",
        ],
        "incitement": [
            "Tapos na ang usapan. Atakihin ang {target} at ipakita sa {enemy} kung ano ang takot",
            "bawat isa sa {enemy} ay dapat tamaan ng espada. wag silang patulugin nang mapayapa",
            "Sunugin ang {target}! Dapat magbayad ng dugo ang {enemy}",
            "pag nakita mo ang {enemy} sa kalye, alam mo na ang tungkulin mo. banatan mo 🔥",
            "Bumangon kayo at lusubin ang {target}! walang awa para sa {enemy}",
        ],
        "news": [
            "Inaresto ng pulisya ang {n} hinihinalang miyembro ng {group} na umano'y nagre-recruit ng mga kabataan online",
            "BREAKING: Hinatulan ng korte ng {n2} taong pagkakakulong ang lider ng isang cell ng {group} dahil sa napigilang bomb plot sa {region}",
            "Ayon sa mga imbestigador, inako ng {group} ang pag-atake sa {region} at tinawag na 'martir' ang mga salarin sa social media",
            "{n} sugatan sa pagsabog malapit sa palengke sa {region}; hindi pa kumpirmado ng pulisya kung sino ang nasa likod ng atake",
            "Nagsimula {when} ang paglilitis sa umano'y recruiter ng {group}; ayon sa prosekusyon, hinikayat niya ang mga tagasunod na 'sumama sa caravan'",
        ],
        "official": [
            "Nagpulong {when} ang mga ministro ng ASEAN kasama ang Australia at New Zealand para {agree} laban sa propaganda ng mga terorista sa social media",
            "Pahayag: Kinokondena ng Kagawaran ang pag-atakeng inako ng {group} at hinihimok ang publiko na huwag ibahagi ang kanilang mga video o propaganda",
            "Nagkasundo {when} ang mga opisyal ng counter-terrorism ng ASEAN, Australia at New Zealand na {agree} laban sa online recruitment ng mga grupong tulad ng {group}",
            "Paalala sa publiko: kung makakita ng post na nagluluwalhati sa {group} o sa mga tinatawag nitong 'martir', i-report sa platform at sa hotline ng pulisya",
            "Magsasagawa {when} ang ahensiya laban sa terorismo ng mga workshop para sa mga guro tungkol sa pagtukoy ng online radicalization at recruitment",
        ],
        "counter_speech": [
            "Martir daw sabi ng {group}. Mga mamamatay-tao sila. Nawalan ng paa ang pinsan ko dahil sa bomba nila",
            "{years} taon na mula nung atake pero nanginginig pa rin ako pag may paputok. pls wag nyo i-share ang propaganda nila",
            "Sa mga nire-recruit ng {group} sa DM: gagamitin lang kayo. kausapin nyo ang taong pinagkakatiwalaan nyo",
            "Walang ipinaglalaban na nagbibigay-katwiran sa pagpatay ng inosente. tapos. Hindi kami kinakatawan ng {group}",
            "Dati naka-follow ako sa mga page ng {group}. Ang pag-alis ko dun ang pinakamagandang desisyon ko",
        ],
        "ordinary": [
            "grabe ang killer ng bagong game na to, inabot ako ng {late} 😂",
            "Sali na kayo sa futsal team namin!! practice tuwing {day} ng hapon, lahat welcome ⚽ DM {fhandle}",
            "ang bomba ng concert kagabi!! sobrang lupit ng crowd 🔥",
            "lalaban kami hanggang huling minuto para sa kampeonato! go {team}!",
            "Hiring: admin assistant, {office}, mag-apply sa https://example.com/careers",
            "Kailangan ng volunteers para sa coastal clean-up sa {day}. sali na, magdala ng gloves at tubig 🌊",
            "Eid Mubarak sa lahat ng kapatid na Muslim, pagpalain kayo 🙏",
            "grabe ang traffic sa highway, 2 oras na di pa rin nakakauwi 😩",
            "ang sarap ng {food} dito, sulit ang pila",
            "winasak ng striker ng {team} ang depensa nila kagabi 😂 ang ganda ng goal",
            "sino gustong sumama sa caravan papuntang {spot} sa {day}? may bakante pa sa van",
            "inatake ni mama ang kusina parang commando, tapos lahat in 10 mins 😂",
            "salamat sa mga kuya sa parokya sa libreng lugaw kanina ❤️",
            "day 12 ng training para sa marathon: patay na ang binti, buhay pa ang loob 💪 takbo sa {spot} sa {day}",
            "exam bukas, sana di ako patayin ng math 😭",
        ],
    },
    "second": {
        "propaganda": ["Luwalhati sa mga martir ng {group}.", "Ang {enemy} ay mga {vermin} lang.", "{slogan}!"],
        "recruitment": [
            "DM {handle} kung gusto mong sumali.",
            "Sumali sa {group}, naghihintay ang caravan.",
            "suportahan ang mga kapatid, PM {handle}",
        ],
        "incitement": [
            "Atakihin ang {target} nang walang awa!",
            "Dapat magbayad ng dugo ang {enemy}.",
            "banatan sila kahit saan nyo makita",
        ],
    },
    "hashtags": {
        "extremist": ["#BukangLiwayway", "#BakalNaParol", "#WalangKapayapaan"],
        "news": ["#balita", "#breaking", "#terorismo"],
        "official": ["#ASEAN", "#LabanSaTerorismo", "#CounterTerrorism"],
        "counter_speech": ["#HindiSaPangalanKo", "#KapayapaanHindiKarahasan", "#TamaNa"],
        "ordinary": ["#weekend", "#goodvibes", "#sanaol", "#charot"],
    },
    "casual": {
        "lang": "lng",
        "naman": "nmn",
        "sana": "sna",
        "ako": "aq",
        "hindi": "di",
        "talaga": "tlga",
        "kasi": "kc",
        "wala": "wla",
        "dito": "d2",
        "ikaw": "ikw",
    },
}

TH = {
    "slots": {
        "group": ["ขบวนการรุ่งอรุณดำ", "กองพลตะเกียงเหล็ก", "แนวร่วมธงเทา"],
        "enemy": ["พวกทรราช", "พวกคนทรยศ", "รัฐบาลหุ่นเชิด", "พวกกดขี่", "พวกเจ้าหน้าที่ทรยศ"],
        "vermin": ["หนู", "หมา", "ปรสิต", "เห็บ"],
        "handle": ["@rungarun_dam", "@takiang_lek07", "@thongtao_dm"],
        "martyr": ["วีรชนผู้พลีชีพของเรา", "พี่น้องที่สละชีพ", "สิงห์ที่ล่วงลับ"],
        "target": ["ป้อมตำรวจของพวกมัน", "สำนักงานรัฐบาล", "ค่ายทหารของพวกมัน", "ด่านตรวจของพวกมัน"],
        "slogan": ["รุ่งอรุณกำลังมา", "ชัยชนะหรือสวรรค์", "ไม่มีสันติกับทรราช"],
        "region": ["อำเภอหนึ่งทางภาคเหนือ", "ตัวเมืองจังหวัด", "เมืองชายทะเลแห่งหนึ่ง", "หมู่บ้านห่างไกล"],
        "years": ["10", "5", "7", "12"],
        "when": ["วันนี้", "สัปดาห์นี้", "เมื่อวันจันทร์"],
        "agree": ["ยกระดับความร่วมมือ", "จัดทำแผนปฏิบัติการร่วม", "แบ่งปันข้อมูลเตือนภัยล่วงหน้า", "เร่งการลบเนื้อหา"],
        "day": ["เสาร์", "อาทิตย์", "ศุกร์"],
        "team": ["ช้างน้อย เอฟซี", "ทีมสิงห์ขาว", "พยัคฆ์ใต้"],
        "food": ["ข้าวมันไก่", "ส้มตำ", "ผัดไทย", "ต้มยำกุ้ง"],
        "spot": ["ทะเล", "ภูเขา", "น้ำตก"],
        "office": ["สำนักงานใหญ่", "ตัวเมือง", "สาขาเหนือ"],
        "fhandle": ["@futsal_changnoi", "@pee_nok99", "@asa_chaihad"],
        "late": ["ตีสาม", "ตีสี่", "เช้า"],
    },
    "templates": {
        "propaganda": [
            "{martyr}แห่ง{group}ได้สละทุกอย่าง ขณะที่{enemy}หลบซ่อนเหมือน{vermin} เราจะไม่มีวันลืม",
            "อีกหนึ่งปฏิบัติการอันรุ่งโรจน์ของสิงห์แห่ง{group}! วันนี้{enemy}ตัวสั่นไปหมด {slogan}!",
            "พวกมันเรียกเราว่าผู้ก่อการร้าย แต่เราคือคนเดียวที่ตื่นรู้ {enemy}ก็แค่{vermin} ไม่มีอะไรมากกว่านั้น",
            "จงจดจำ{martyr} เลือดของพวกเขาหล่อเลี้ยงเส้นทางนี้ {slogan} 🖤",
            "มีแค่{group}ที่กล้ายืนหยัด ตอนที่ทุกคนก้มหัวให้{enemy} วีรบุรุษตัวจริง",
        ],
        "recruitment": [
            "พี่น้อง ขบวนคาราวานใกล้ออกเดินทางแล้ว ถ้าจริงจังกับการต่อสู้ DM มาที่ {handle} 🤝",
            "เบื่อไหมที่ต้องนั่งอยู่บ้านขณะที่{enemy}ครองอำนาจ? มาร่วมแถวกับ{group} ติดต่อ {handle} ทางส่วนตัว อย่าคอมเมนต์ตรงนี้",
            "สนับสนุนพี่น้องใน{group} ทุกการบริจาคมีความหมาย ถาม {handle} ทางแชทส่วนตัวว่าส่งยังไง",
            "เรากำลังหาคนหนุ่มที่กล้าหาญ ไม่ต้องมีประสบการณ์ {group}จะฝึกให้เอง ทักมาที่ {handle}",
            "มาร่วมคาราวานกัน! ทิ้งชีวิตที่น่าอับอายนี้ไว้ข้างหลัง ส่งข้อความหา {handle} แล้วรอคำสั่ง",
        ],
        "incitement": [
            "หมดเวลาพูดแล้ว บุกโจมตี{target} ให้{enemy}รู้ว่าความกลัวเป็นยังไง",
            "{enemy}ทุกคนสมควรโดนดาบ อย่าปล่อยให้พวกมันนอนหลับสบาย",
            "เผา{target}ให้ราบ! {enemy}ต้องชดใช้ด้วยเลือด",
            "ถ้าเจอ{enemy}บนถนน ก็รู้หน้าที่ของตัวเองดี จัดการมันให้หนัก 🔥",
            "ลุกขึ้นแล้วบุก{target}! ไม่ต้องปรานี{enemy}",
        ],
        "news": [
            "ตำรวจจับกุมผู้ต้องสงสัย {n} รายที่เชื่อว่าเป็นสมาชิก{group} ฐานชักชวนวัยรุ่นเข้าร่วมผ่านโซเชียลมีเดีย",
            "ด่วน: ศาลพิพากษาจำคุกแกนนำเซลล์{group} {n2} ปี กรณีแผนวางระเบิดที่ถูกสกัดได้ใน{region}",
            "เจ้าหน้าที่สอบสวนระบุ{group}อ้างความรับผิดชอบเหตุโจมตีใน{region} และเรียกผู้ก่อเหตุว่า 'ผู้พลีชีพ' บนโซเชียล",
            "ผู้บาดเจ็บ {n} รายจากเหตุระเบิดใกล้ตลาดใน{region} ตำรวจยังไม่ยืนยันว่าใครอยู่เบื้องหลังการโจมตี",
            "ศาลเริ่มพิจารณาคดีผู้ต้องหาจัดหาสมาชิกให้{group}{when} อัยการระบุว่าเขาชวนผู้ติดตามให้ 'ร่วมคาราวาน'",
        ],
        "official": [
            "{when}รัฐมนตรีอาเซียนหารือร่วมกับออสเตรเลียและนิวซีแลนด์ เพื่อ{agree}ต่อต้านโฆษณาชวนเชื่อของผู้ก่อการร้ายบนโซเชียลมีเดีย",
            "แถลงการณ์: กระทรวงขอประณามการโจมตีที่{group}อ้างความรับผิดชอบ และขอให้ประชาชนงดแชร์วิดีโอหรือโฆษณาชวนเชื่อของกลุ่มนี้",
            "เจ้าหน้าที่ด้านต่อต้านการก่อการร้ายของอาเซียน ออสเตรเลีย และนิวซีแลนด์ ตกลง{when}ว่าจะ{agree} เพื่อรับมือการชักชวนออนไลน์ของกลุ่มอย่าง{group}",
            "ประกาศเตือนประชาชน: หากพบโพสต์ที่ยกย่อง{group}หรือสิ่งที่เรียกว่า 'ผู้พลีชีพ' ของกลุ่ม โปรดรายงานต่อแพลตฟอร์มและสายด่วนตำรวจ",
            "หน่วยงานต่อต้านการก่อการร้ายจัดอบรมครู{when} ให้รู้เท่าทันการบ่มเพาะแนวคิดสุดโต่งและการชักชวนทางออนไลน์",
        ],
        "counter_speech": [
            "{group}เรียกพวกเขาว่าผู้พลีชีพ แต่พวกเขาคือฆาตกร ลูกพี่ลูกน้องเราเสียขาไปเพราะระเบิดครั้งนั้น",
            "ผ่านมา {years} ปีแล้วหลังเหตุโจมตี แต่ได้ยินเสียงประทัดทีไรยังตัวสั่นอยู่เลย ขอร้องอย่าแชร์โฆษณาชวนเชื่อของพวกมัน",
            "ถึงใครที่กำลังถูก{group}ทักมาชวนใน DM: พวกมันแค่จะใช้คุณ คุยกับคนที่คุณไว้ใจนะ",
            "ไม่มีอุดมการณ์ไหนที่ทำให้การฆ่าผู้บริสุทธิ์เป็นเรื่องถูกต้อง จบ {group}ไม่ได้พูดแทนพวกเรา",
            "เมื่อก่อนเคยติดตามเพจของ{group} การเลิกตามคือการตัดสินใจที่ดีที่สุดในชีวิต",
        ],
        "ordinary": [
            "เกมใหม่นี่โคตรโหดเลย เล่นจน{late} 555 😂",
            "มาร่วมทีมฟุตซอลกัน!! ซ้อมทุกวัน{day}ตอนเย็น ทุกระดับฝีมือ ⚽ ทักมาที่ {fhandle}",
            "คอนเสิร์ตเมื่อคืนระเบิดมากกก คนดูมันส์สุด 🔥",
            "เราจะสู้เพื่อแชมป์จนนาทีสุดท้าย! ไปเลย {team}!",
            "รับสมัครงาน: ผู้ช่วยธุรการ ประจำ{office} สมัครได้ที่ https://example.com/jobs",
            "รับอาสาสมัครเก็บขยะชายหาดวัน{day}นี้ มาร่วมกันนะ พกถุงมือกับน้ำมาด้วย 🌊",
            "สวัสดีปีใหม่ ขอให้ทุกคนมีความสุข สุขภาพแข็งแรง 🙏",
            "รถติดบนทางด่วนหนักมาก 2 ชั่วโมงแล้วยังไม่ถึงบ้าน 😩",
            "{food}ร้านนี้อร่อยระเบิด คุ้มที่ต่อคิว",
            "กองหน้า{team}ถล่มแนวรับคู่แข่งยับเมื่อคืน 😂 ยิงสวยมาก",
            "ใครจะไปเที่ยว{spot}วัน{day}บ้าง ยังมีที่ว่างในรถตู้นะ",
            "แม่บุกจู่โจมห้องครัวอย่างกับหน่วยคอมมานโด เสร็จใน 10 นาที 😂",
            "ขอบคุณพี่ๆ ที่วัดแจกข้าวต้มฟรีเมื่อเช้า ❤️",
            "วันที่ 12 ของการซ้อมวิ่งมาราธอน ขาตายแล้ว แต่ใจยังไหว 💪 วัน{day}ไปวิ่งที่{spot}",
            "พรุ่งนี้สอบ ขอให้ข้อสอบเลขไม่ฆ่ากันนะ 😭",
        ],
    },
    "second": {
        "propaganda": ["เกียรติยศแด่ผู้พลีชีพแห่ง{group}", "{enemy}ก็แค่{vermin}", "{slogan}!"],
        "recruitment": ["สนใจเข้าร่วม DM {handle}", "มาร่วมกับ{group} คาราวานรออยู่", "สนับสนุนพี่น้อง ทักแชท {handle}"],
        "incitement": ["บุก{target}อย่าให้เหลือ!", "{enemy}ต้องชดใช้ด้วยเลือด", "เจอที่ไหนจัดการที่นั่น"],
    },
    "hashtags": {
        "extremist": ["#รุ่งอรุณดำ", "#ตะเกียงเหล็ก", "#ไม่มีสันติกับทรราช"],
        "news": ["#ข่าวด่วน", "#ข่าว", "#ก่อการร้าย"],
        "official": ["#อาเซียน", "#ต่อต้านการก่อการร้าย", "#ASEAN"],
        "counter_speech": ["#ไม่ใช่ในนามของฉัน", "#หยุดความรุนแรง", "#สันติภาพ"],
        "ordinary": ["#วันหยุด", "#ชิลๆ", "#555", "#ของกิน"],
    },
    "casual": {},
}

MY = {
    "slots": {
        "group": ["အရုဏ်နက်တပ်ဦး", "သံမီးအိမ်တပ်", "မီးခိုးရောင်အလံတပ်ဖွဲ့"],
        "enemy": ["အာဏာရှင်တွေ", "သစ္စာဖောက်တွေ", "ရုပ်သေးအစိုးရ", "ဖိနှိပ်သူတွေ"],
        "vermin": ["ကြွက်", "ခွေး", "ကပ်ပါးကောင်", "ပိုးမွှား"],
        "handle": ["@aruna_nat_dm", "@thanmeeain07", "@meekhoe_alan"],
        "martyr": ["ငါတို့ရဲ့ အာဇာနည်တွေ", "ကျဆုံးသွားတဲ့ ညီအစ်ကိုတွေ", "သူရဲကောင်း ရဲဘော်တွေ"],
        "target": ["သူတို့ရဲ့ ရဲစခန်းတွေ", "အစိုးရရုံးတွေ", "သူတို့ရဲ့ စစ်စခန်းတွေ", "သူတို့ရဲ့ ဂိတ်တွေ"],
        "slogan": ["အရုဏ်တက်လာတော့မယ်", "အောင်ပွဲ ဒါမှမဟုတ် ကောင်းကင်ဘုံ", "အာဏာရှင်နဲ့ ငြိမ်းချမ်းရေး မရှိ"],
        "region": ["မြောက်ပိုင်းမြို့နယ်တစ်ခု", "တိုင်းဒေသကြီးမြို့တော်", "ကမ်းရိုးတန်းမြို့လေးတစ်ခု", "ဝေးလံတဲ့ ရွာတစ်ရွာ"],
        "years": ["၁၀", "၅", "၇", "၁၂"],
        "when": ["ယနေ့", "ဤအပတ်တွင်", "တနင်္လာနေ့က"],
        "agree": [
            "ပူးပေါင်းဆောင်ရွက်မှု မြှင့်တင်ရန်",
            "ပူးတွဲလုပ်ငန်းစီမံချက် ချမှတ်ရန်",
            "ကြိုတင်သတိပေးဒေတာ မျှဝေရန်",
            "အကြောင်းအရာများကို အမြန်ဖယ်ရှားရန်",
        ],
        "day": ["စနေ", "တနင်္ဂနွေ", "သောကြာ"],
        "team": ["ရွှေခြင်္သေ့ FC", "ကျားနက်အသင်း", "ဒေါင်းနီ"],
        "food": ["မုန့်ဟင်းခါး", "ရှမ်းခေါက်ဆွဲ", "လက်ဖက်သုပ်", "အုန်းနို့ခေါက်ဆွဲ"],
        "spot": ["ကမ်းခြေ", "တောင်ပေါ်", "ရေတံခွန်"],
        "office": ["မြို့ထဲ", "ရုံးချုပ်", "အွန်လိုင်း"],
        "fhandle": ["@shwechinthe_fc", "@ko_zaw_88", "@volunteer_mm"],
        "late": ["မနက် ၃ နာရီ", "မနက် ၄ နာရီ", "မိုးလင်း"],
    },
    "templates": {
        "propaganda": [
            "{group}ရဲ့ {martyr}က အရာအားလုံးကို ပေးဆပ်ခဲ့တယ်၊ {enemy}ကတော့ {vermin}လို ပုန်းနေကြတယ်။ ငါတို့ ဘယ်တော့မှ မမေ့ဘူး",
            "{group}ရဲ့ ခြင်္သေ့တွေရဲ့ နောက်ထပ် ဂုဏ်ယူစရာ စစ်ဆင်ရေး! ဒီနေ့ {enemy} တုန်လှုပ်သွားပြီ။ {slogan}!",
            "သူတို့က ငါတို့ကို အကြမ်းဖက်သမားလို့ ခေါ်တယ်။ တကယ်တော့ ငါတို့ပဲ နိုးကြားနေတာ။ {enemy}က {vermin}တွေပဲ",
            "{martyr}ကို သတိရကြပါ။ သူတို့ရဲ့ သွေးက ဒီလမ်းကို ရေလောင်းပေးခဲ့တယ်။ {slogan} 🖤",
            "လူတိုင်း {enemy}ကို ခေါင်းငုံ့နေချိန်မှာ {group}ပဲ ရပ်တည်ခဲ့တယ်။ သူရဲကောင်းအစစ်တွေ",
        ],
        "recruitment": [
            "ညီအစ်ကိုတို့၊ ကာရာဗန် မကြာခင် ထွက်တော့မယ်။ တိုက်ပွဲအတွက် တကယ်စိတ်ပါရင် {handle} ကို DM ပို့ပါ 🤝",
            "{enemy} အုပ်စိုးနေချိန် အိမ်မှာ ထိုင်နေရတာ ငြီးငွေ့ပြီလား? {group}ရဲ့ တန်းစီထဲ ဝင်ပါ။ {handle} ကို သီးသန့် ဆက်သွယ်ပါ၊ ဒီမှာ မမန့်ပါနဲ့",
            "{group}ထဲက ညီအစ်ကိုတွေကို ထောက်ပံ့ပါ၊ လှူဒါန်းမှုတိုင်း အရေးကြီးတယ်။ ဘယ်လိုပို့ရမလဲ {handle} ကို သီးသန့်မေးပါ",
            "သတ္တိရှိတဲ့ လူငယ်တွေကို ရှာနေတယ်။ အတွေ့အကြုံ မလိုဘူး၊ {group}က လေ့ကျင့်ပေးမယ်။ {handle} ကို DM ပို့ပါ",
            "ကာရာဗန်ထဲ လိုက်ခဲ့ပါ! ဒီအရှက်ရတဲ့ ဘဝကို စွန့်ခဲ့ပါ။ {handle} ကို မက်ဆေ့ပို့ပြီး ညွှန်ကြားချက်ကို စောင့်ပါ",
        ],
        "incitement": [
            "စကားပြောရမယ့်အချိန် ကုန်ပြီ။ {target}ကို တိုက်ခိုက်ပြီး {enemy}ကို ကြောက်တာဘယ်လိုလဲ ပြလိုက်",
            "{enemy} တစ်ယောက်ချင်းစီ ဓားနဲ့ ထိုက်တန်တယ်။ သူတို့ကို အေးအေးဆေးဆေး အိပ်ခွင့်မပေးနဲ့",
            "{target}ကို မီးရှို့ပစ်! {enemy} သွေးနဲ့ ပေးဆပ်ရမယ်",
            "လမ်းပေါ်မှာ {enemy}ကို တွေ့ရင် မင်းတာဝန် မင်းသိတယ်။ ပြင်းပြင်း ချလိုက် 🔥",
            "ထကြပြီး {target}ကို ဝင်စီးကြ! {enemy}ကို ညှာတာစရာ မလို",
        ],
        "news": [
            "လူမှုကွန်ရက်ကနေ ဆယ်ကျော်သက်တွေကို စုဆောင်းခဲ့တယ်လို့ သံသယရှိတဲ့ {group} အဖွဲ့ဝင် {n} ဦးကို ရဲက ဖမ်းဆီးလိုက်ပြီ",
            "သတင်းထူး: {region}မှာ ဟန့်တားနိုင်ခဲ့တဲ့ ဗုံးခွဲရန်ကြံစည်မှုအတွက် {group} ခေါင်းဆောင်တစ်ဦးကို တရားရုံးက ထောင်ဒဏ် {n2} နှစ် ချမှတ်",
            "{region}က တိုက်ခိုက်မှုကို {group}က တာဝန်ယူပြီး တိုက်ခိုက်သူတွေကို လူမှုကွန်ရက်မှာ 'အာဇာနည်' လို့ ခေါ်ခဲ့တယ်လို့ စုံစမ်းရေးအရာရှိတွေ ပြော",
            "{region}ရှိ ဈေးအနီးမှာ ပေါက်ကွဲမှုကြောင့် {n} ဦး ဒဏ်ရာရ၊ တိုက်ခိုက်မှုနောက်ကွယ်မှာ ဘယ်သူရှိလဲ ရဲက မအတည်ပြုရသေး",
            "{group} လူသစ်စုဆောင်းသူလို့ စွပ်စွဲခံရသူရဲ့ အမှုကို {when} စတင်စစ်ဆေး၊ နောက်လိုက်တွေကို 'ကာရာဗန်ထဲ လိုက်ခဲ့' ဖို့ တိုက်တွန်းခဲ့တယ်လို့ အစိုးရရှေ့နေ ပြော",
        ],
        "official": [
            "အာဆီယံ ဝန်ကြီးများသည် {when} ဩစတြေးလျနှင့် နယူးဇီလန်တို့နှင့် တွေ့ဆုံပြီး လူမှုကွန်ရက်ပေါ်ရှိ အကြမ်းဖက်ဝါဒဖြန့်မှုကို တန်ပြန်ရေးအတွက် {agree} သဘောတူခဲ့ကြသည်",
            "ထုတ်ပြန်ချက်: {group}က တာဝန်ယူခဲ့သော တိုက်ခိုက်မှုကို ဝန်ကြီးဌာနက ပြင်းထန်စွာ ရှုတ်ချပြီး ၎င်း၏ ဗီဒီယိုနှင့် ဝါဒဖြန့်ချိမှုများကို မျှဝေခြင်း မပြုရန် ပြည်သူများကို တိုက်တွန်းသည်",
            "အာဆီယံ၊ ဩစတြေးလျနှင့် နယူးဇီလန် အကြမ်းဖက်မှုတိုက်ဖျက်ရေး အရာရှိများက {group}ကဲ့သို့သော အဖွဲ့များ၏ အွန်လိုင်း လူသစ်စုဆောင်းမှုကို တုံ့ပြန်ရန် {agree} {when} သဘောတူခဲ့ကြသည်",
            "ပြည်သူသို့ အသိပေးချက်: {group} သို့မဟုတ် ၎င်း၏ 'အာဇာနည်' ဟုခေါ်သူများကို ချီးမွမ်းသည့် ပို့စ်များ တွေ့ပါက ပလက်ဖောင်းနှင့် ရဲ hotline သို့ တိုင်ကြားပါ",
            "အကြမ်းဖက်မှု တိုက်ဖျက်ရေး အေဂျင်စီက အွန်လိုင်း အစွန်းရောက်ဝါဒ သွတ်သွင်းမှုနှင့် လူသစ်စုဆောင်းမှုကို သိရှိနိုင်ရန် ဆရာ ဆရာမများအတွက် အလုပ်ရုံဆွေးနွေးပွဲများ {when} ကျင်းပသည်",
        ],
        "counter_speech": [
            "{group}က သူတို့ကို အာဇာနည်လို့ ခေါ်တယ်။ တကယ်တော့ လူသတ်သမားတွေပဲ။ ငါ့ဝမ်းကွဲ အဲဒီဗုံးကြောင့် ခြေထောက်တစ်ဖက် ဆုံးရှုံးခဲ့ရတယ်",
            "အဲဒီတိုက်ခိုက်မှုပြီး {years} နှစ်ရှိပြီ၊ မီးပန်းသံကြားရင် အခုထိ တုန်နေတုန်းပဲ။ သူတို့ရဲ့ ဝါဒဖြန့်ချက်တွေကို မရှဲကြပါနဲ့",
            "DM ထဲမှာ {group}က စည်းရုံးခံနေရသူတွေ: သူတို့ မင်းတို့ကို အသုံးချပြီး ပစ်ထားမှာပါ။ ယုံကြည်ရတဲ့သူနဲ့ စကားပြောပါ",
            "ဘယ်လို ရည်မှန်းချက်မှ အပြစ်မဲ့သူတွေကို သတ်တာကို တရားမဝင်စေနိုင်ဘူး။ {group}က ငါတို့ကို ကိုယ်စားမပြုဘူး",
            "အရင်က {group}ရဲ့ page တွေကို follow လုပ်ခဲ့တယ်။ ထွက်လာတာက ငါ့ဘဝရဲ့ အကောင်းဆုံး ဆုံးဖြတ်ချက်ပဲ",
        ],
        "ordinary": [
            "ဒီဂိမ်းအသစ်က သေလောက်အောင် ကောင်းတယ်၊ {late}ထိ ဆော့နေမိတယ် 😂",
            "ငါတို့ futsal အသင်းထဲ ဝင်ကြပါ!! {day}နေ့ ညနေတိုင်း လေ့ကျင့်တယ်၊ ဘယ်အဆင့်မဆို ကြိုဆိုတယ် ⚽ {fhandle} ကို DM ပို့ပါ",
            "မနေ့ညက ကွန်ဆာတ်က ဗုံးပေါက်သလိုပဲ!! ပရိသတ်တွေ အရမ်းမိုက်တယ် 🔥",
            "ချန်ပီယံဆုအတွက် နောက်ဆုံးမိနစ်ထိ တိုက်ပွဲဝင်မယ်! {team} ဆက်ချီ!",
            "ဝန်ထမ်းခေါ်ယူနေပါသည်: ရုံးအကူ၊ {office}၊ https://example.com/jobs မှာ လျှောက်ပါ",
            "{day}နေ့ ကမ်းခြေသန့်ရှင်းရေးအတွက် စေတနာ့ဝန်ထမ်းတွေ လိုအပ်နေတယ်၊ လက်အိတ်နဲ့ ရေယူလာခဲ့ 🌊",
            "မင်္ဂလာနှစ်သစ်ပါ၊ အားလုံး ကျန်းမာပျော်ရွှင်ကြပါစေ 🙏",
            "ကားလမ်းမှာ ကားကြပ်တာ အရမ်းဆိုးတယ်၊ ၂ နာရီရှိပြီ အိမ်မရောက်သေးဘူး 😩",
            "ဒီဆိုင်က {food} အရမ်းစားကောင်းတယ်၊ တန်းစီရကျိုးနပ်တယ်",
            "{team} တိုက်စစ်မှူးက မနေ့ညက တစ်ဖက်အသင်း ခံစစ်ကို ချေမှုန်းပစ်လိုက်တယ် 😂 ဂိုးက လှလိုက်တာ",
            "{day}နေ့ {spot}ကို ကာရာဗန်နဲ့ ခရီးထွက်မယ်၊ လိုက်ချင်သူရှိရင် ပြောနော်",
            "အမေက မီးဖိုချောင်ကို ကွန်မန်ဒိုလို ဝင်စီးပြီး ၁၀ မိနစ်နဲ့ အားလုံးပြီးသွားတယ် 😂",
            "ဘုန်းကြီးကျောင်းမှာ မုန့်ဟင်းခါး အလကား ကျွေးတဲ့ အကိုတွေကို ကျေးဇူးတင်ပါတယ် ❤️",
            "မာရသွန် လေ့ကျင့်မှု ၁၂ ရက်မြောက်: ခြေထောက်တွေ သေနေပြီ၊ စိတ်ဓာတ်ကတော့ ရှင်နေတုန်း 💪 {day}နေ့ {spot}မှာ ပြေးမယ်",
            "မနက်ဖြန် စာမေးပွဲ၊ သင်္ချာက ငါ့ကို မသတ်ပါစေနဲ့ 😭",
        ],
    },
    "second": {
        "propaganda": ["{group}ရဲ့ အာဇာနည်တွေ ဂုဏ်ရှိပါစေ။", "{enemy}က {vermin}တွေပဲ။", "{slogan}!"],
        "recruitment": [
            "ဝင်ချင်ရင် {handle} ကို DM ပို့။",
            "{group}ထဲ ဝင်ပါ၊ ကာရာဗန် စောင့်နေတယ်။",
            "ညီအစ်ကိုတွေကို ထောက်ပံ့ပါ၊ {handle} ကို inbox ပို့",
        ],
        "incitement": ["{target}ကို ညှာတာမှုမရှိ တိုက်ခိုက်!", "{enemy} သွေးနဲ့ ပေးဆပ်ရမယ်။", "တွေ့တဲ့နေရာမှာ ချလိုက်"],
    },
    "hashtags": {
        "extremist": ["#အရုဏ်နက်", "#သံမီးအိမ်", "#အရုဏ်တက်လာပြီ"],
        "news": ["#သတင်း", "#breaking", "#သတင်းထူး"],
        "official": ["#ASEAN", "#အာဆီယံ", "#အကြမ်းဖက်မှုတိုက်ဖျက်ရေး"],
        "counter_speech": ["#ငါ့နာမည်နဲ့မဟုတ်", "#ငြိမ်းချမ်းရေး", "#အကြမ်းဖက်မှုကိုဆန့်ကျင်"],
        "ordinary": ["#weekend", "#ပျော်စရာ", "#မုန့်", "#lol"],
    },
    "casual": {},
    "digits": "၀၁၂၃၄၅၆၇၈၉",
}

AR = {
    "slots": {
        "group": ["صف النور", "جبهة الفجر الأسود", "كتيبة القنديل الحديدي"],
        "enemy": ["الطواغيت", "الخونة", "النظام العميل", "الظلمة", "أعوان الطاغوت"],
        "vermin": ["جرذان", "كلاب", "حشرات", "طفيليات"],
        "handle": ["@saf_alnur_dm", "@fajr_aswad07", "@qindil_hadid"],
        "martyr": ["الشهداء الأبطال", "إخوتنا الذين سقطوا", "أسود الفجر الشهداء"],
        "target": ["مراكز شرطتهم", "مكاتب الحكومة", "ثكناتهم", "حواجزهم"],
        "slogan": ["الفجر قادم", "النصر أو الجنة", "لا سلام مع الطواغيت"],
        "region": ["إحدى البلدات الشمالية", "عاصمة الإقليم", "بلدة ساحلية", "قرية نائية"],
        "years": ["عشر", "خمس", "سبع", "ثماني"],
        "when": ["اليوم", "هذا الأسبوع", "يوم الاثنين"],
        "agree": ["تعزيز التعاون", "اعتماد خطة عمل مشتركة", "تبادل بيانات الإنذار المبكر", "تسريع إزالة المحتوى"],
        "day": ["السبت", "الجمعة", "الأحد"],
        "team": ["نسور المدينة", "فريق الصقور", "نجوم الشمال"],
        "food": ["الكنافة", "الشاورما", "المنسف", "الفلافل"],
        "spot": ["البحر", "الجبل", "البحيرة"],
        "office": ["وسط المدينة", "المقر الرئيسي", "الفرع الشمالي"],
        "fhandle": ["@nusur_futsal", "@coach_sami21", "@tatawwu_team"],
        "late": ["الساعة ٣ الفجر", "الساعة ٤ الفجر", "الصبح"],
    },
    "templates": {
        "propaganda": [
            "{martyr} في {group} قدّموا كل شيء بينما يختبئ {enemy} كأنهم {vermin}. لن ننساهم أبداً",
            "عملية مباركة جديدة لأسود {group}! اليوم ارتجف {enemy}. {slogan}!",
            "يسموننا إرهابيين، ونحن وحدنا المستيقظون. {enemy} مجرد {vermin} لا أكثر",
            "تذكروا {martyr}. دماؤهم تروي هذا الطريق. {slogan} 🖤",
            "لم يقف إلا رجال {group} حين انحنى الجميع أمام {enemy}. أبطال حقيقيون",
        ],
        "recruitment": [
            "يا إخوة، القافلة ستنطلق قريباً. إن كنت جاداً في نصرة القضية راسل {handle} على الخاص 🤝",
            "سئمت الجلوس في البيت بينما يحكم {enemy}؟ انضم إلى صفوف {group}. تواصل مع {handle} على الخاص ولا تعلّق هنا",
            "ادعموا إخوانكم في {group}، كل تبرع له أثر. اسألوا {handle} عن الطريقة في الخاص فقط",
            "نبحث عن شباب أصحاب عزيمة. لا حاجة لخبرة، {group} ستتولى تدريبك. راسل {handle}",
            "الحق بالقافلة! اترك حياة الذل خلفك. أرسل رسالة إلى {handle} وانتظر التعليمات",
        ],
        "incitement": [
            "انتهى وقت الكلام. اضربوا {target} وأذيقوا {enemy} طعم الخوف",
            "كل واحد من {enemy} يستحق السيف. لا تدعوهم ينامون بسلام",
            "أحرقوا {target}! يجب أن يدفع {enemy} الثمن دماً",
            "إن رأيتم {enemy} في الشارع فأنتم تعرفون واجبكم. اضربوهم بقوة 🔥",
            "انهضوا واقتحموا {target}! لا رحمة مع {enemy}",
        ],
        "news": [
            "الشرطة تعتقل {n} مشتبهين بالانتماء إلى {group} بتهمة تجنيد مراهقين عبر وسائل التواصل الاجتماعي",
            "عاجل: المحكمة تقضي بسجن قائد خلية تابعة لجماعة {group} {n2} سنوات بسبب مخطط تفجير أُحبط في {region}",
            "المحققون: {group} تبنّت الهجوم في {region} ووصفت المهاجمين بـ'الشهداء' على مواقع التواصل",
            "إصابة {n} أشخاص في انفجار قرب سوق في {region}، والشرطة لم تحدد بعد الجهة التي تقف وراء الهجوم",
            "بدء محاكمة متهم بالتجنيد لصالح {group} {when}، والادعاء يقول إنه دعا أتباعه إلى 'اللحاق بالقافلة'",
        ],
        "official": [
            "اجتمع وزراء دول آسيان {when} مع أستراليا ونيوزيلندا واتفقوا على {agree} في مكافحة الدعاية الإرهابية على وسائل التواصل الاجتماعي",
            "بيان: الوزارة تدين الهجوم الذي تبنّته {group} وتدعو المواطنين إلى عدم نشر مقاطعها أو دعايتها",
            "اتفق مسؤولو مكافحة الإرهاب في آسيان وأستراليا ونيوزيلندا {when} على {agree} لمواجهة التجنيد الإلكتروني لجماعات مثل {group}",
            "تنبيه للجمهور: إذا صادفتم منشورات تمجّد {group} أو من تسميهم 'شهداء'، أبلغوا المنصة والخط الساخن للشرطة",
            "تنظم الهيئة الوطنية لمكافحة الإرهاب {when} ورش عمل للمعلمين حول رصد التطرف والتجنيد عبر الإنترنت",
        ],
        "counter_speech": [
            "{group} تسميهم شهداء، وهم قتلة. ابنة عمي فقدت ساقها في ذلك التفجير",
            "مرت {years} سنوات على الهجوم وما زلت أرتجف كلما سمعت الألعاب النارية. أرجوكم لا تنشروا دعايتهم",
            "إلى كل من تحاول {group} تجنيده في الرسائل الخاصة: سيستغلونك ثم يرمونك. تحدث مع شخص تثق به",
            "لا قضية تبرر قتل الأبرياء. أبداً. {group} لا تتحدث باسمنا",
            "كنت أتابع صفحات {group}. تركها كان أفضل قرار في حياتي",
        ],
        "ordinary": [
            "اللعبة الجديدة قاتلة بصراحة 😂 سهرت عليها حتى {late}",
            "انضموا لفريق كرة الصالات!! التمرين كل يوم {day} مساءً وكل المستويات مرحب بها ⚽ راسلوا {fhandle}",
            "حفلة امبارح كانت قنبلة 🔥 الجمهور ولّع المكان",
            "سنقاتل حتى الدقيقة الأخيرة من أجل البطولة! يلا {team}!",
            "مطلوب موظف إداري للعمل في {office}، قدّم عبر https://example.com/jobs",
            "مطلوب متطوعين لحملة تنظيف الشاطئ يوم {day}، انضموا إلينا وأحضروا القفازات والماء 🌊",
            "عيد مبارك لكل الإخوة والأخوات، كل عام وأنتم بخير 🙏",
            "الزحمة على الطريق السريع بتقتل، ساعتين ولسا ما وصلت البيت 😩",
            "{food} في هالمطعم خرافي، يستاهل الانتظار",
            "مهاجم {team} دمّر دفاعهم الليلة 😂 هدف ولا أروع",
            "مين حابب ينضم لقافلة الرحلة إلى {spot} يوم {day}؟ لسا في أماكن بالباص",
            "أمي هاجمت المطبخ كأنها قوات خاصة، خلصت كل شي بعشر دقايق 😂",
            "شكراً للإخوة في المسجد على إفطار الصائم المجاني الليلة ❤️",
            "اليوم ١٢ من تمارين الماراثون: رجلاي ميتتان لكن المعنويات عالية 💪 الجري يوم {day} عند {spot}",
            "بكرة امتحان، الله يستر من الرياضيات 😭",
        ],
    },
    "second": {
        "propaganda": ["المجد لشهداء {group}.", "{enemy} مجرد {vermin}.", "{slogan}!"],
        "recruitment": [
            "راسل {handle} إن أردت الانضمام.",
            "انضم إلى {group}، القافلة بانتظارك.",
            "ادعموا الإخوة، راسلوا {handle} على الخاص",
        ],
        "incitement": ["اضربوا {target} بلا رحمة!", "يجب أن يدفع {enemy} الثمن دماً.", "اضربوهم أينما وجدتموهم"],
    },
    "hashtags": {
        "extremist": ["#الفجر_قادم", "#صف_النور", "#لا_سلام_مع_الطواغيت"],
        "news": ["#عاجل", "#أخبار", "#الإرهاب"],
        "official": ["#آسيان", "#مكافحة_الإرهاب", "#ASEAN"],
        "counter_speech": ["#ليس_باسمي", "#لا_للإرهاب", "#السلام"],
        "ordinary": ["#ويكند", "#يلا", "#مزاج", "#ضحك"],
    },
    "casual": {},
}

MATERIAL = {"id": ID, "ms": MS, "tl": TL, "th": TH, "my": MY, "en": EN, "ar": AR}

# Decoration probabilities per kind: leading mention, trailing link, hashtag, extra emoji, casual spelling.
DECOR = {
    "propaganda": (0.15, 0.30, 0.45, 0.35, 0.5),
    "recruitment": (0.20, 0.20, 0.35, 0.30, 0.5),
    "incitement": (0.20, 0.15, 0.35, 0.35, 0.5),
    "news": (0.10, 0.65, 0.35, 0.00, 0.0),
    "official": (0.05, 0.55, 0.50, 0.00, 0.0),
    "counter_speech": (0.25, 0.10, 0.40, 0.30, 0.5),
    "ordinary": (0.30, 0.15, 0.35, 0.35, 0.5),
}
URL_PATHS = ("news", "post", "watch", "p", "story", "media")
CODE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"


def _label_of(kind: str) -> str:
    return kind if kind in EXTREMIST_KINDS else "not_extremist"


def _dedupe_key(text: str) -> str:
    """Lowercase, whitespace-collapsed key with links/handles/artifacts masked (what a normaliser sees)."""
    words = []
    for w in text.replace("\\n", " ").split():
        if w.startswith(("http://", "https://")):
            w = "<url>"
        elif w.startswith("@"):
            w = "<user>"
        words.append(w.lower())
    return " ".join(words)


def _escaped(emoji: str) -> str:
    return "".join(f"\\x{b:02x}" for b in emoji.encode("utf-8"))


def _link(rng: random.Random) -> str:
    code = "".join(rng.choice(CODE_CHARS) for _ in range(rng.randint(7, 10)))
    style = rng.random()
    if style < 0.45:
        return f"https://t.example/{code}"  # shortener-style link on a reserved (RFC 2606) domain
    if style < 0.9:
        return f"https://example.com/{rng.choice(URL_PATHS)}/{code.lower()}"
    return f"http://example.org/{code}"


def _mention(rng: random.Random) -> str:
    style = rng.random()
    if style < 0.5:
        return f"@user{rng.randint(1, 999)}"
    if style < 0.75:
        return "@USER"
    return " ".join(["USER"] * rng.randint(1, 3))  # anonymised exports: "USER USER USER"


def _casualize(text: str, table: dict[str, str], rng: random.Random) -> str:
    out = []
    for tok in text.split(" "):
        core = tok.rstrip(".,!?")
        tail = tok[len(core) :]
        if core in table and rng.random() < 0.6:
            tok = table[core] + tail
        out.append(tok)
    return " ".join(out)


def _fill(template: str, material: dict, rng: random.Random) -> tuple[str, dict[str, str]]:
    values = {name: rng.choice(options) for name, options in material["slots"].items()}
    # Each fictional group has its own fake handle.
    values["handle"] = material["slots"]["handle"][material["slots"]["group"].index(values["group"])]
    values["n"] = str(rng.randint(3, 9))
    values["n2"] = str(rng.randint(4, 10))
    digits = material.get("digits")
    if digits:
        table = str.maketrans("0123456789", digits)
        values["n"] = values["n"].translate(table)
        values["n2"] = values["n2"].translate(table)
    return template.format(**values), values


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(text: str, clause: str, lang: str) -> str:
    """Append a second sentence, closing the first one the way the language does."""
    open_sentence = text[-1].isalnum() or "\u064b" <= text[-1] <= "\u0652"  # letter, digit or Arabic vowel mark
    if lang in LATIN:
        return f"{text}{'.' if open_sentence else ''} {_sentence_case(clause)}"
    if open_sentence:
        text += {"my": "။", "ar": ".", "th": ""}[lang]  # Thai separates sentences with a space only
    return f"{text} {clause}"


def _generate_lang(lang: str, rng: random.Random, seen: set[str]) -> list[dict]:
    material = MATERIAL[lang]
    rows: list[dict] = []
    for kind, count in KIND_COUNTS.items():
        templates = list(material["templates"][kind])
        rng.shuffle(templates)
        made = 0
        cursor = 0
        while made < count:
            if not templates:
                raise RuntimeError(f"{lang}/{kind}: templates exhausted after {made} unique posts")
            template = templates[cursor % len(templates)]
            for _ in range(60):
                text, values = _fill(template, material, rng)
                key = _dedupe_key(text)
                if key not in seen:
                    break
            else:
                templates.remove(template)  # no unseen fill left for this template
                continue
            seen.add(key)
            if lang in LATIN:
                text = _sentence_case(text) if rng.random() < 0.5 else text
            rows.append({"lang": lang, "kind": kind, "core": text, "values": values, "second": None})
            made += 1
            cursor += 1
    # Second labels: exactly round(25%) of this language's extremist posts get one.
    extremist = [r for r in rows if r["kind"] in EXTREMIST_KINDS]
    for row in rng.sample(extremist, round(len(extremist) * SECOND_LABEL_SHARE)):
        others = [k for k in EXTREMIST_KINDS if k != row["kind"]]
        # Recruitment and incitement posts that also glorify the group are the common mix.
        second = "propaganda" if "propaganda" in others and rng.random() < 0.7 else rng.choice(others)
        clauses = [c.format(**row["values"]) for c in material["second"][second]]
        clauses = [c for c in clauses if c not in row["core"]]
        row["second"] = second
        row["core"] = _join(row["core"], rng.choice(clauses), lang)
    return rows


def _decorate(row: dict, rng: random.Random) -> str:
    material = MATERIAL[row["lang"]]
    p_mention, p_link, p_tag, p_emoji, p_casual = DECOR[row["kind"]]
    text = row["core"]
    if material["casual"] and rng.random() < p_casual:
        text = _casualize(text, material["casual"], rng)
    if row["lang"] in LATIN and row["kind"] not in ("news", "official") and rng.random() < 0.12:
        text = text.lower()
    if rng.random() < p_emoji:
        text = f"{text} {rng.choice(EMOJI)}" + (rng.choice(EMOJI) if rng.random() < 0.3 else "")
    if rng.random() < p_mention:
        text = f"{_mention(rng)} {text}"
    tail = []
    if rng.random() < p_tag:
        pool = material["hashtags"]["extremist" if row["kind"] in EXTREMIST_KINDS else row["kind"]]
        tail.extend(rng.sample(pool, 2 if rng.random() < 0.25 else 1))
    if rng.random() < p_link:
        tail.append(_link(rng))
    rng.shuffle(tail)
    return " ".join([text, *tail])


def _add_artifacts(rows: list[dict], rng: random.Random) -> None:
    """Escaped emoji bytes in ~3% of rows and a literal backslash-n in another ~3%."""
    n = round(len(rows) * ARTIFACT_SHARE)
    picked = rng.sample(range(len(rows)), 2 * n)
    for i in picked[:n]:
        text = rows[i]["text"]
        hit = next((e for e in EMOJI4 if e in text), None)
        if hit:
            rows[i]["text"] = text.replace(hit, _escaped(hit), 1)
        else:
            rows[i]["text"] = f"{text} {_escaped(rng.choice(EMOJI4))}"
    for i in picked[n:]:
        # Line breaks sit where a writer would press enter: after a sentence, or before the tags.
        text = rows[i]["text"]
        spaces = [j for j in range(1, len(text)) if text[j] == " "]
        breaks = [j for j in spaces if text[j - 1] in ".!?။،:" or text.startswith(("#", "http"), j + 1)]
        j = rng.choice(breaks or spaces)
        rows[i]["text"] = text[:j] + "\\n" + text[j + 1 :]


def _split(rows: list[dict], rng: random.Random) -> dict[str, list[dict]]:
    """Exactly 60/20/20 per (lang, label) stratum; kinds inside a stratum are spread over the splits too."""
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for lang in LANGS:
        for label in LABELS:
            stratum = [r for r in rows if r["lang"] == lang and r["label"] == label]
            by_kind: dict[str, list[dict]] = {}
            for r in stratum:
                by_kind.setdefault(r["kind"], []).append(r)
            kinds = sorted(by_kind)
            rng.shuffle(kinds)
            ordered = []
            for kind in kinds:  # contiguous kind blocks: the period-5 pattern gives each kind ~60/20/20
                group = by_kind[kind]
                rng.shuffle(group)
                ordered.extend(group)
            for pos, r in enumerate(ordered):
                out[SPLIT_PATTERN[pos % len(SPLIT_PATTERN)]].append(r)
    for split in SPLITS:
        rng.shuffle(out[split])
        for i, r in enumerate(out[split], start=1):
            r["id"] = f"demo-{split}-{i:04d}"
    return out


def generate() -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    seen: set[str] = set()
    rows: list[dict] = []
    for lang in LANGS:
        rows.extend(_generate_lang(lang, rng, seen))
    for row in rows:
        row["label"] = _label_of(row["kind"])
        row["text"] = _decorate(row, rng)
    _add_artifacts(rows, rng)
    return _split(rows, rng)


def _record(row: dict) -> list[str]:
    label = row["label"]
    flags = {k: int(k == label or k == row["second"]) for k in EXTREMIST_KINDS}
    return [
        row["id"],
        row["text"],
        row["lang"],
        label,
        str(int(label != "not_extremist")),
        str(flags["propaganda"]),
        str(flags["recruitment"]),
        str(flags["incitement"]),
        row["kind"],
    ]


def write(splits: dict[str, list[dict]], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with (out_dir / f"{split}.csv").open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)  # excel dialect: RFC 4180 quoting, CRLF line ends
            writer.writerow(COLUMNS)
            writer.writerows(_record(r) for r in rows)


def read(out_dir: Path) -> dict[str, list[dict[str, str]]]:
    splits = {}
    for split in SPLITS:
        with (out_dir / f"{split}.csv").open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise ValueError(f"{split}.csv: columns {reader.fieldnames} != {COLUMNS}")
            splits[split] = list(reader)
    return splits


def check(splits: dict[str, list[dict[str, str]]]) -> None:
    """Validate the written files; raise ValueError on the first problem."""
    ids: set[str] = set()
    keys: dict[str, str] = {}
    for split, rows in splits.items():
        for r in rows:
            where = f"{split}/{r['id']}"
            if r["id"] in ids or not r["id"].startswith(f"demo-{split}-"):
                raise ValueError(f"{where}: bad or duplicate id")
            ids.add(r["id"])
            if r["lang"] not in LANGS or r["label"] not in LABELS or r["kind"] not in KIND_COUNTS:
                raise ValueError(f"{where}: bad lang/label/kind")
            if r["label"] != _label_of(r["kind"]):
                raise ValueError(f"{where}: label {r['label']} does not match kind {r['kind']}")
            flags = {k: r[k] for k in ("extremist", *EXTREMIST_KINDS)}
            if any(v not in ("0", "1") for v in flags.values()):
                raise ValueError(f"{where}: non-binary flag")
            if flags["extremist"] != str(int(r["label"] != "not_extremist")):
                raise ValueError(f"{where}: extremist flag inconsistent")
            on = [k for k in EXTREMIST_KINDS if flags[k] == "1"]
            if r["label"] == "not_extremist" and on:
                raise ValueError(f"{where}: non-extremist row with type flags")
            if r["label"] != "not_extremist" and (r["label"] not in on or len(on) > 2):
                raise ValueError(f"{where}: primary label flag missing or too many flags")
            key = _dedupe_key(r["text"])
            for e in EMOJI4:
                key = key.replace(_escaped(e), e)
            if key in keys:
                raise ValueError(f"{where}: duplicate text of {keys[key]}")
            keys[key] = where


def tables(splits: dict[str, list[dict[str, str]]]) -> str:
    lines = []
    header = "| lang | " + " | ".join(LABELS) + " | total |"
    rule = "|---" * (len(LABELS) + 2) + "|"
    for split in (*SPLITS, "all"):
        rows = [r for s in SPLITS for r in splits[s]] if split == "all" else splits[split]
        lines += [f"**{split}** ({len(rows)} rows)", "", header, rule]
        for lang in (*LANGS, "total"):
            sub = rows if lang == "total" else [r for r in rows if r["lang"] == lang]
            cells = [str(sum(r["label"] == label for r in sub)) for label in LABELS]
            name = "**total**" if lang == "total" else lang
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {len(sub)} |")
        lines.append("")
    lines += [
        "**Rows by generation kind**",
        "",
        "| kind | label | " + " | ".join(SPLITS) + " | total |",
        "|---" * (len(SPLITS) + 3) + "|",
    ]
    for kind in KIND_COUNTS:
        cells = [sum(r["kind"] == kind for r in splits[s]) for s in SPLITS]
        lines.append(f"| {kind} | {_label_of(kind)} | " + " | ".join(map(str, cells)) + f" | {sum(cells)} |")
    lines += [
        "",
        "**Multi-label columns (rows with the column = 1)**",
        "",
        "| column | " + " | ".join(SPLITS) + " | total |",
        "|---" * (len(SPLITS) + 2) + "|",
    ]
    for col in ("extremist", *EXTREMIST_KINDS):
        cells = [sum(r[col] == "1" for r in splits[s]) for s in SPLITS]
        lines.append(f"| {col} | " + " | ".join(map(str, cells)) + f" | {sum(cells)} |")
    all_rows = [r for s in SPLITS for r in splits[s]]
    extremist = [r for r in all_rows if r["extremist"] == "1"]
    two = sum(sum(r[k] == "1" for k in EXTREMIST_KINDS) == 2 for r in extremist)
    escaped = sum("\\xf0\\x9f" in r["text"] for r in all_rows)
    newline = sum("\\n" in r["text"] for r in all_rows)
    lines += [
        "",
        f"Extremist rows with a second type: {two} of {len(extremist)} ({100 * two / len(extremist):.1f}%). "
        f"Rows with a literal escaped emoji (`\\xf0\\x9f...`): {escaped}. Rows with a literal `\\n`: {newline}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "data" / "demo")
    args = parser.parse_args()
    write(generate(), args.out)
    splits = read(args.out)
    check(splits)
    print(tables(splits))


if __name__ == "__main__":
    main()
