"""The domain knowledge the operator trusts: loaders, chunking, embedder and the FAISS index."""
