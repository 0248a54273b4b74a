import t from 'tap'
import { tokenBucketAlgorithm } from '../../algorithms/index.js'
import { testBucketProperties } from './helpers.js'

testBucketProperties(t, tokenBucketAlgorithm)
