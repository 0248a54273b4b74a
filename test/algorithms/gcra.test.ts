import t from 'tap'
import { gcraAlgorithm } from '../../algorithms/index.js'
import { testBucketProperties } from './helpers.js'

testBucketProperties(t, gcraAlgorithm)
