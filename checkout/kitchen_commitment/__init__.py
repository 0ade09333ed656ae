"""04 kitchen-preparation: preparation (or a cancellation) claims the order."""
