"""Running the whole model: the run folder, the orchestration, the manifest and rendering."""
