"""One command runs the whole multi-stage workflow, resumably, with provenance.

A pipeline file (YAML) lists stages by name; a stage refers to another stage's outputs as
``{stages.NAME.OUTPUT}``, which also makes it depend on that stage. Each stage writes
``<run_dir>/<stage>/stage.json`` (inputs, resolved parameters, content hashes, landseg version,
git commit, outputs, metrics, times, host). A stage whose key (its resolved parameters, the content
of the config files it reads, and the keys of the stages it depends on) is unchanged is skipped.
"""

from landseg.pipeline.runner import PipelineResult, run_pipeline
from landseg.pipeline.spec import PipelineSpec, load_pipeline

__all__ = ["PipelineResult", "PipelineSpec", "load_pipeline", "run_pipeline"]
