"""Ranking models: baselines, the cloud teacher, the edge student and the split reranker."""
