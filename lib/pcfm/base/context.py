"""What a stage needs to run: the parameters and the run folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pcfm.base.folder import RunFolder
from pcfm.base.outputs import Outputs
from pcfm.params import Params, load_params


@dataclass(frozen=True)
class RunContext:
    """The parameters of a run and where its files go; every stage function takes one."""

    params: Params
    folder: RunFolder

    @classmethod
    def open(cls, params_path: str | Path, run_dir: str | Path) -> RunContext:
        """Open the context the notebooks receive as papermill parameters (two paths)."""
        return cls(params=load_params(params_path), folder=RunFolder(Path(run_dir)))

    @property
    def outputs(self) -> Outputs:
        """Writer of publishable and restricted outputs for this run."""
        return Outputs(self.folder, self.params.disclosure)

    @property
    def data_dir(self) -> Path:
        """The folder holding the input tables of the data contract."""
        if self.params.data.source == "synthetic":
            return self.folder.input_data
        folder = self.params.resolve(self.params.data.folder)
        if folder is None:
            raise ValueError("data.folder is required when data.source is 'folder'")
        return folder
