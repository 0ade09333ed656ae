"""04 kitchen-preparation: the tasks merged back (merge N→1)."""
