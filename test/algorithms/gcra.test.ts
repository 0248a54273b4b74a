import t from 'tap'
import { gcraAlgorithm } from '../../algorithms/index.js'
import { testBucketProperties } from '../support/algorithms.js'

testBucketProperties(t, gcraAlgorithm)
