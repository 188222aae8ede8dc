"""The idle-check Lambda: moves each on-demand model along its lifecycle on the EventBridge schedule."""
