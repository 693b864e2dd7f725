"""Rule probe implementations (torch is imported only through the probe context)."""
