"""The audit log: who changed keys, members and plans, when and from where."""
