//! Survey scripts: the model, validation, and a pure interpreter.
