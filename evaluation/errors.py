"""One exception type for every 'this run cannot go on' condition, with a message for people."""


class EvaluationError(RuntimeError):
    """Bad input or an unusable model/data: the run stops and nothing is stored as complete."""
