"""Shadow-logic analysis: a format-neutral graph IR, constant folding, data-flow and detectors.

Entry points: :func:`trojanguard.graph.ir.from_onnx` builds the IR (subgraphs and local
functions inlined), :func:`trojanguard.graph.detectors.analyze_model` returns SHD findings,
:func:`trojanguard.graph.diff.diff_models` compares a suspect with a reference.  Nothing here
executes the model; numpy is used only to fold small constant tensors.
"""
