import t from 'tap'
import { tokenBucketAlgorithm } from '../../algorithms/index.js'
import { testBucketProperties } from '../support/algorithms.js'

testBucketProperties(t, tokenBucketAlgorithm)
