"""The licensing pages: the dashboard, licenses (list, view, actions), license requests."""
