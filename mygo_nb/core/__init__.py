"""The pieces every method is built from (chapters 2-5): the Neocortex Net (`net`), generative memories
(`memories`), scenarios (`scenarios`), metrics (`metrics`), the run context (`context`), the training loops and
the feature cache (`loops`) and tensors on disk (`store`). Imports only `mygo_nb.data` and below."""
