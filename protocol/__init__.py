"""Messages and decisions shared by the tray, the agent and the server (no Qt, network or db)."""
