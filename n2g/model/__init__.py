"""Model access: loading (hub, GGUF, local directories), the batched layer probe, hooks that stop a forward pass
at a layer, token keys for matching, and the per-tokenizer mask token."""
