"""Model sources: offline assets shipped inside installed wheels, and converters for them."""
