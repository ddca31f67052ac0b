"""Cloud side of splitrank: the training pipeline that makes every model, and the reranking server."""
