"""The pieces every method is built from (notebooks 02-05): the Neocortex Net (`net`), generative memories
(`memories`), scenarios (`scenarios`), metrics (`metrics`), the run context (`context`), the training loops and
the feature cache (`loops`) and tensors on disk (`store`). Imports only `mygo_nb.data` and below."""
