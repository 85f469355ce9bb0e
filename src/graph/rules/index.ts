// Every op rule registers itself on import; add a rule by adding a file here.
import './batchnorm.ts';
import './binary.ts';
import './channelwise-unary.ts';
import './concat.ts';
import './conv.ts';
import './flatten.ts';
import './gemm.ts';
import './matmul.ts';
import './pool.ts';
import './reduce.ts';
import './reshape.ts';
import './slice.ts';
import './split.ts';
