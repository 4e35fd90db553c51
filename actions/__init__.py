"""Custom actions of the Adempauze assistant (run by the rasa-sdk action server)."""
