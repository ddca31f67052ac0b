"""The cloud reranking server: model repository, dynamic batcher, gRPC service."""
