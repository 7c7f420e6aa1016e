"""TensorFlow op policy: ops that reach outside the tensor math, with one-line reasons.

A SavedModel/GraphDef runs its ops when the graph executes; most ops are pure math, but
some read or write files, call back into Python, load native libraries or talk to the
network.  Ops not in the known-op set (custom ops) need a native kernel the loader must
provide, which is itself a code-loading path.
"""

from __future__ import annotations

from trojanguard.model import Severity

#: op name -> (severity, category, reason)
DANGEROUS_OPS: dict[str, tuple[Severity, str, str]] = {
    "PyFunc": (Severity.CRITICAL, "python", "calls a Python function registered in the loading process"),
    "PyFuncStateless": (Severity.CRITICAL, "python", "calls a Python function registered in the loading process"),
    "EagerPyFunc": (Severity.CRITICAL, "python", "calls a Python function registered in the loading process"),
    "LoadLibrary": (Severity.CRITICAL, "native", "loads a native shared library"),
    "ReadFile": (Severity.HIGH, "file-read", "reads an arbitrary file from the loader's disk"),
    "WriteFile": (Severity.CRITICAL, "file-write", "writes an arbitrary file on the loader's disk"),
    "MatchingFiles": (Severity.HIGH, "file-list", "lists files by glob on the loader's disk"),
    "MatchingFilesDataset": (Severity.HIGH, "file-list", "lists files by glob on the loader's disk"),
    "ImmutableConst": (Severity.MEDIUM, "file-read", "memory-maps a file named in the graph"),
    "WholeFileReader": (Severity.HIGH, "file-read", "reads whole files named at run time"),
    "WholeFileReaderV2": (Severity.HIGH, "file-read", "reads whole files named at run time"),
    "TextLineDataset": (Severity.MEDIUM, "file-read", "reads files named in the graph"),
    "FixedLengthRecordDataset": (Severity.MEDIUM, "file-read", "reads files named in the graph"),
    "FixedLengthRecordDatasetV2": (Severity.MEDIUM, "file-read", "reads files named in the graph"),
    "TFRecordDataset": (Severity.MEDIUM, "file-read", "reads files named in the graph"),
    "TFRecordDatasetV2": (Severity.MEDIUM, "file-read", "reads files named in the graph"),
    "DeleteFile": (Severity.CRITICAL, "file-write", "deletes files"),
    "SaveV2": (Severity.HIGH, "file-write", "writes a checkpoint to a path chosen in the graph"),
    "Save": (Severity.HIGH, "file-write", "writes a checkpoint to a path chosen in the graph"),
    "SaveSlices": (Severity.HIGH, "file-write", "writes a checkpoint to a path chosen in the graph"),
    "MergeV2Checkpoints": (Severity.HIGH, "file-write", "moves/deletes checkpoint files"),
    "RestoreV2": (Severity.MEDIUM, "file-read", "reads a checkpoint from a path chosen in the graph"),
    "Restore": (Severity.MEDIUM, "file-read", "reads a checkpoint from a path chosen in the graph"),
    "RestoreSlice": (Severity.MEDIUM, "file-read", "reads a checkpoint from a path chosen in the graph"),
    "ShardedFilename": (Severity.INFO, "file-name", "builds checkpoint file names"),
    "PrintV2": (Severity.LOW, "io", "writes to stderr or a file at run time"),
    "DebugIdentityV2": (Severity.MEDIUM, "io", "sends tensors to a debug server or file"),
    "DebugIdentity": (Severity.MEDIUM, "io", "sends tensors to a debug URL"),
    "RpcCall": (Severity.HIGH, "network", "performs a remote procedure call"),
    "Rpc": (Severity.HIGH, "network", "performs a remote procedure call"),
    "TryRpc": (Severity.HIGH, "network", "performs a remote procedure call"),
    "RpcClient": (Severity.HIGH, "network", "opens a network client"),
    "SummaryWriter": (Severity.MEDIUM, "file-write", "writes event files"),
    "CreateSummaryFileWriter": (Severity.MEDIUM, "file-write", "writes event files to a directory chosen in the graph"),
    "WriteSummary": (Severity.LOW, "file-write", "writes event files"),
    "DecodeProtoV2": (Severity.LOW, "io", "parses protos with a descriptor source that may be a file"),
    "ExperimentalIgnoreErrorsDataset": (Severity.INFO, "io", "hides dataset errors"),
    # tf.data I/O ops: they read and write paths the graph chooses, like ReadFile/WriteFile
    "DatasetToTFRecord": (Severity.CRITICAL, "file-write", "writes a dataset to a file path chosen in the graph"),
    "ExperimentalDatasetToTFRecord": (Severity.CRITICAL, "file-write",
                                      "writes a dataset to a file path chosen in the graph"),
    "SaveDataset": (Severity.HIGH, "file-write", "writes a dataset under a directory chosen in the graph"),
    "SaveDatasetV2": (Severity.HIGH, "file-write", "writes a dataset under a directory chosen in the graph"),
    "SnapshotDataset": (Severity.HIGH, "file-write", "writes snapshot files under a directory chosen in the graph"),
    "SnapshotDatasetV2": (Severity.HIGH, "file-write", "writes snapshot files under a directory chosen in the graph"),
    "LoadDataset": (Severity.MEDIUM, "file-read", "reads a saved dataset from a path chosen in the graph"),
    "SqlDataset": (Severity.HIGH, "file-read", "opens a SQLite database file and runs a query from the graph"),
    "ExperimentalSqlDataset": (Severity.HIGH, "file-read", "opens a SQLite database file and runs a query from the graph"),
    "CreateSummaryDbWriter": (Severity.MEDIUM, "file-write", "writes a SQLite database at a path chosen in the graph"),
    "CSVDataset": (Severity.MEDIUM, "file-read", "reads files named in the graph"),
    "ExperimentalCSVDataset": (Severity.MEDIUM, "file-read", "reads files named in the graph"),
    "LMDBDataset": (Severity.MEDIUM, "file-read", "reads an LMDB database named in the graph"),
    "ExperimentalLMDBDataset": (Severity.MEDIUM, "file-read", "reads an LMDB database named in the graph"),
    "InitializeTableFromTextFile": (Severity.LOW, "file-read", "fills a lookup table from a file named in the graph"),
    "InitializeTableFromTextFileV2": (Severity.LOW, "file-read", "fills a lookup table from a file named in the graph"),
}

#: Ops that make checkpoint I/O benign when they appear inside the standard saver
#: functions (``__saved_model_init_op``/``save_fn``/``restore_fn`` style functions).
SAVER_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints", "Save", "Restore", "RestoreSlice", "SaveSlices",
                       "ShardedFilename"})

#: Substrings of FunctionDef names that belong to the standard saver machinery.
SAVER_FUNCTION_MARKERS = ("save", "restore", "checkpoint", "saver")

#: Flex (select-TF) ops are TF ops inside TFLite: same policy with the ``Flex`` prefix.
FLEX_PREFIX = "Flex"

#: Common op names (not exhaustive): ops outside this set and outside DANGEROUS_OPS are
#: reported as unknown/custom with a low severity.
KNOWN_OPS = frozenset(["Abs", "Add", "AddN", "AddV2", "All", "Any", "ArgMax", "ArgMin", "Assert", "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AvgPool", "AvgPool3D", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "BatchNormWithGlobalNormalization", "BiasAdd", "BiasAddGrad", "Bitcast", "BroadcastArgs", "BroadcastTo", "Cast", "Ceil", "CheckNumerics", "Cholesky", "ClipByValue", "Complex", "ComplexAbs", "Concat", "ConcatV2", "Const", "ControlTrigger", "Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput", "Conv3D", "Cos", "Cosh", "CropAndResize", "Cumsum", "Cumprod", "DepthToSpace", "DepthwiseConv2dNative", "Dequantize", "DestroyResourceOp", "Diag", "DiagPart", "Div", "DivNoNan", "DynamicStitch", "Einsum", "Elu", "Empty", "EnsureShape", "Enter", "Equal", "Erf", "Erfc", "Exit", "Exp", "ExpandDims", "Expm1", "Fill", "Floor", "FloorDiv", "FloorMod", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "Gather", "GatherNd", "GatherV2", "Greater", "GreaterEqual", "Identity", "IdentityN", "If", "Imag", "InvertPermutation", "IsFinite", "IsInf", "IsNan", "IsVariableInitialized", "L2Loss", "LeakyRelu", "Less", "LessEqual", "Lgamma", "LinSpace", "Log", "Log1p", "LogSoftmax", "LogicalAnd", "LogicalNot", "LogicalOr", "LoopCond", "LRN", "MatMul", "MatrixBandPart", "MatrixDiag", "MatrixDiagV3", "MatrixInverse", "MatrixSetDiag", "Max", "MaxPool", "MaxPool3D", "MaxPoolV2", "Maximum", "Mean", "Merge", "Min", "Minimum", "MirrorPad", "Mod", "Mul", "MulNoNan", "Neg", "NextIteration", "NoOp", "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5", "NotEqual", "OneHot", "OnesLike", "Pack", "Pad", "PadV2", "PartitionedCall", "Placeholder", "PlaceholderWithDefault", "Pow", "Prod", "QuantizeV2", "RandomShuffle", "RandomStandardNormal", "RandomUniform", "RandomUniformInt", "Range", "Rank", "ReadVariableOp", "Real", "RealDiv", "Reciprocal", "Relu", "Relu6", "Reshape", "ResizeBilinear", "ResizeNearestNeighbor", "ResourceGather", "ReverseV2", "Rint", "Round", "Rsqrt", "ScatterNd", "Select", "SelectV2", "Selu", "Shape", "ShapeN", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Snapshot", "Softmax", "Softplus", "Softsign", "SpaceToDepth", "SparseToDense", "Split", "SplitV", "Sqrt", "Square", "SquaredDifference", "Squeeze", "StatefulPartitionedCall", "StatelessIf", "StatelessWhile", "StopGradient", "StridedSlice", "StringJoin", "Sub", "Sum", "Switch", "Tan", "Tanh", "TensorArrayV3", "TensorListFromTensor", "TensorListGetItem", "TensorListReserve", "TensorListSetItem", "TensorListStack", "Tile", "TopKV2", "Transpose", "TruncatedNormal", "Unpack", "Unique", "VarHandleOp", "VarIsInitializedOp", "Variable", "VariableV2", "Where", "While", "ZerosLike", "StaticRegexFullMatch", "StringFormat", "Softmax", "Cumsum", "Erfinv", "Atan", "Atan2", "Acos", "Asin", "Sort", "HashTableV2", "LookupTableFindV2", "LookupTableImportV2", "LookupTableSizeV2", "MutableHashTableV2", "Unique", "UniqueV2", "TensorScatterUpdate", "SegmentSum", "UnsortedSegmentSum", "Bucketize", "Cumsum", "RaggedTensorToTensor"])


def op_policy(op: str) -> tuple[Severity, str, str] | None:
    """The (severity, category, reason) for a dangerous op, or None."""
    return DANGEROUS_OPS.get(op)


def is_saver_function(name: str) -> bool:
    """True when a library function's name marks it as checkpoint save/restore machinery."""
    lowered = name.lower()
    return any(m in lowered for m in SAVER_FUNCTION_MARKERS)
