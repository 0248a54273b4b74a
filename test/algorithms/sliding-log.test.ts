import t from 'tap'
import { slidingLogAlgorithm } from '../../algorithms/index.js'
import { slidingLogFits, anyIntervalAtMostL, testWindowProperties } from './helpers.js'

testWindowProperties(t, slidingLogAlgorithm, slidingLogFits, anyIntervalAtMostL)
