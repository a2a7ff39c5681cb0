"""Rules as data (pure): the pipeline document, evaluation, explanation, field mapping, desired state, policies."""
