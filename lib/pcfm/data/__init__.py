"""The data stage: the data contract, synthetic and public inputs, validation, cells."""
