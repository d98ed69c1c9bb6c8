"""Real-time steering: KPIs, forecast, HTTP endpoint (health, metrics, status page), replay."""
