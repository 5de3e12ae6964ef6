"""The patch window: targeting, planning, rate control, the wave runner, retry and emergency."""
