"""HTTP caching: validators derived from stored data, conditional GET and Cache-Control."""
