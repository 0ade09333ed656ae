"""What happens to a failed attempt: the error-sink entry, the sinks, parking."""
