#!/usr/bin/env bash
# GermEval 2026 harmful content (and the HS1 fold-0 pooling ablation) on a CPU: the shorter protocol of
# docs/results.md, "GermEval 2026 harmful content (CPU protocol)". Jobs run one after another in the background.
#
#   bash scripts/germeval_cpu.sh start [OUT]   # nohup: goes on when the shell ends; OUT default outputs/germeval_cpu
#   bash scripts/germeval_cpu.sh status [OUT]  # which jobs finished, their test metrics; the running job's log tail
#   ONLY="c2a_mean dbo_mean" bash scripts/germeval_cpu.sh start      # a subset, in the order given
#   EXTRA="trainer.max_epochs=3 model.freeze_layers=0" SUFFIX=_3ep ONLY=c2a_mean bash scripts/germeval_cpu.sh start
#       # a longer variant: EXTRA overrides go after the protocol's, into OUT/runs/<job><SUFFIX>/
#   RECIPE=long TRIMMED=/work/me5_trim_germeval SUFFIX=_long ONLY=c2a_mean bash scripts/germeval_cpu.sh start
#   SEEDS="1 2 3" ONLY=c2a_mean bash scripts/germeval_cpu.sh start
#       # one run per seed (OUT/runs/<job><SUFFIX>_seed<N>/), then their ensemble in OUT/ensembles/<job><SUFFIX>/
# One series at a time: a second `start` while one runs would share the CPU with it.
#
# OUT/runs/<job>/ is the job's run folder (metrics.json, predictions/, ...), OUT/logs/<job>.log its console.
# A job whose run folder has metrics.json is skipped, so `start` again continues where a stopped series ended.
# (trainer.ensemble averages the seeds' saved probabilities: nothing is retrained for it.)
# Needs ../shared/datasets (or $SEAGUARD_DATA_ROOT) and me5_small (converted once into the cache).
# The protocol, against the experiment files' recipe (which a GPU runs as written):
#   1 epoch (not 5 / 8) validated twice (after half and all of it; the better checkpoint is tested), lr 1e-4 (a
#   short schedule, 10% warm-up), max_length 128, embeddings and the bottom 6 of 12 layers frozen (no backward
#   through them), length-bucketed batches of ~1,184 padded tokens with the fused AdamW
#   (docs/bench_train_throughput.md), tracking=none (run folders only). Sized for ~1/3 of a shared 2-core CPU:
#   ~45 min per GermEval job there.
# The GermEval jobs keep their experiment's sqrt_balanced class weights and macro-F1; HS1 keeps its own (F1 of HS).
# To run from a frozen copy while the working tree changes: git archive HEAD | tar -x -C /tmp/snap, then start it
# there with OUT=<absolute path>, SEAGUARD_CACHE=<this checkout>/.cache and SEAGUARD_DATA_ROOT=<the datasets>.
set -uo pipefail
cd "$(dirname "$0")/.."

PROTOCOL=(trainer.max_epochs=1 +trainer.val_check_interval=0.5 module.optimizer.lr=1.0e-4 model.max_length=128
    model.freeze_embeddings=true model.freeze_layers=6 loader=bucketed module=fused_cpu module.optimizer.fused=true
    tracking=none)
# RECIPE=long appends the longer recipe of the later sessions (docs/results.md, "Longer CPU run" and after): 3 epochs
# validated after each, every layer and the embeddings trained, bf16 autocast, lr 5e-5, 512 tokens; ~40 min per c2a
# job on the AMX Xeon. TRIMMED=<folder> reads the model from a vocabulary-trimmed copy (python -m
# trainer.models.vocab_trim), so the embeddings train at little cost. bf16 only on CPUs with bf16 matrix units:
# elsewhere (an AVX2 EPYC, say) it is emulated and slower than fp32, so the recipe trains in fp32 there
# (configs/trainer/cpu_bf16.yaml); PRECISION=<lightning precision> decides instead.
grep -qwE 'amx_bf16|avx512_bf16' /proc/cpuinfo 2> /dev/null && CPU_PRECISION=bf16-mixed || CPU_PRECISION=32-true
LONG=(trainer.max_epochs=3 trainer.val_check_interval=1.0 model.freeze_layers=0 model.freeze_embeddings=false
    "trainer.precision=${PRECISION:-$CPU_PRECISION}" module.optimizer.lr=5.0e-5 model.max_length=512)
[ "${RECIPE:-short}" = long ] && PROTOCOL+=("${LONG[@]}")
[ -n "${TRIMMED:-}" ] && PROTOCOL+=(model.source=hub "++model.name_or_path=$TRIMMED")
# Priority order: the two GermEval subtasks (mean pooling), then the pooling ablation.
declare -A JOBS=(
    [c2a_mean]="experiment=germeval_c2a_me5 model.pooling=mean"
    [dbo_mean]="experiment=germeval_dbo_me5 model.pooling=mean"
    [dbo_cls]="experiment=germeval_dbo_me5 model.pooling=cls"
    [hs1f0_cls]="experiment=id_hs1_me5 data.split.fold=0 model.pooling=cls"
    [hs1f0_mean]="experiment=id_hs1_me5 data.split.fold=0 model.pooling=mean"
)
ORDER=(c2a_mean dbo_mean dbo_cls hs1f0_cls hs1f0_mean)

# One training job into OUT/runs/NAME (skipped when it has metrics.json); succeeds when it wrote metrics.json.
one_job() {
    local out="$1" py="$2" job="$3" name="$4"
    shift 4
    if [ -f "$out/runs/$name/metrics.json" ]; then echo "$(date -Is) $name: done before, skipped"; return 0; fi
    rm -rf "$out/runs/$name"
    echo "$(date -Is) $name: start (${JOBS[$job]} ${EXTRA:-} $*)"
    # shellcheck disable=SC2086  # the overrides are words
    $py -m trainer.train ${JOBS[$job]} "${PROTOCOL[@]}" ${EXTRA:-} "$@" "hydra.run.dir=$out/runs/$name" \
        > "$out/logs/$name.log" 2>&1
    local rc=$?
    [ -f "$out/runs/$name/metrics.json" ] || { echo "$(date -Is) $name: exit $rc, no metrics.json: failed (see $out/logs/$name.log)"; return 1; }
    echo "$(date -Is) $name: exit $rc"
}

series() {
    local out="$1" py="${PYTHON:-.venv/bin/python}"
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
    # On a CPU shared with other jobs, OpenMP threads that spin while waiting for a descheduled peer burn the
    # cores: a me5_small step (32 x 40 tokens, 2 threads, load ~10) took 20.9 s wall / 5.7 s CPU spinning, and
    # 4.1 s / 1.5 s with passive waiting (1 thread: 3.4 s / 1.5 s). Passive waiting keeps both threads for a quiet machine.
    export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
    for job in ${ONLY:-${ORDER[@]}}; do
        [ -n "${JOBS[$job]:-}" ] || { echo "unknown job $job (jobs: ${ORDER[*]})"; return 1; }
        local members=""
        for seed in ${SEEDS:-config}; do  # "config": the config's seed, no suffix
            local name="$job${SUFFIX:-}" seed_arg=""
            [ "$seed" = config ] || { name+="_seed$seed"; seed_arg="seed=$seed"; }
            one_job "$out" "$py" "$job" "$name" $seed_arg && members+="$out/runs/$name,"
        done
        # Two seeds or more: their probability-average ensemble, thresholds tuned on validation (trainer.ensemble).
        if [ "$(tr -cd ',' <<< "$members" | wc -c)" -ge 2 ]; then
            $py -m trainer.ensemble "runs=[${members%,}]" "out_dir=$out/ensembles/$job${SUFFIX:-}" \
                > "$out/logs/$job${SUFFIX:-}_ensemble.log" 2>&1
            echo "$(date -Is) $job${SUFFIX:-} ensemble: exit $? ($out/ensembles/$job${SUFFIX:-})"
        fi
    done
    echo "$(date -Is) series finished"
}

status() {
    local out="$1"
    [ -f "$out/series.log" ] && cat "$out/series.log"
    for run in "$out"/runs/*/; do
        local job metrics="$run/metrics.json"
        job=$(basename "$run")
        [ -f "$metrics" ] || continue
        python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); t=m["test"]["overall"]; k=m["main_metric"]
print(sys.argv[2], k, "test", round(t[k], 4), "macro_f1", round(t["macro_f1"], 4), "best validation", round(m["best_epoch_score"], 4))' \
            "$metrics" "$job"
    done
    local running; running=$(ls -t "$out"/logs/*.log 2> /dev/null | head -1)
    [ -n "$running" ] && { echo "--- $running"; tail -c 600 "$running" | tr '\r' '\n' | tail -4; }
}

cmd="${1:-}"
out="${2:-outputs/germeval_cpu}"
mkdir -p "$out/logs" "$out/runs"
out="$(cd "$out" && pwd)"
case "$cmd" in
    start)
        nohup bash "$PWD/scripts/germeval_cpu.sh" series "$out" >> "$out/series.log" 2>&1 &
        echo "started (pid $!): bash scripts/germeval_cpu.sh status $out" ;;
    series) series "$out" ;;
    status) status "$out" ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
esac
