"""The training pipeline: fit the teacher, distil the student, fit the split reranker, export, evaluate."""
