"""wxguard detection engine: probes collect facts, data-driven rules judge them."""
