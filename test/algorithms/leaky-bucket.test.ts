import t from 'tap'
import { leakyBucketAlgorithm } from '../../algorithms/index.js'
import { testBucketProperties } from '../support/algorithms.js'

testBucketProperties(t, leakyBucketAlgorithm)
