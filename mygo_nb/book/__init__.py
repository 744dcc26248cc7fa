"""What the book's notebooks use beyond the method: figures (`plotting`), widgets with kernel-free twins
(`widgets`) and notebook helpers (`nbutil`). Imports only `mygo_nb.running` and below."""
