"""Content matching: what a file is, told by its bytes (YARA rules run by yara-x)."""
