# The demo users' password: development only (seed_demo refuses to run in production).
DEMO_PASSWORD = "qiiub-demo-2026"
