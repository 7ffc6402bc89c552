"""The employee's tray app: a client of the agent's typed API that renders its answers."""
