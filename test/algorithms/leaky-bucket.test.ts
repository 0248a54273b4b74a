import t from 'tap'
import { leakyBucketAlgorithm } from '../../algorithms/index.js'
import { testBucketProperties } from './helpers.js'

testBucketProperties(t, leakyBucketAlgorithm)
