import t from 'tap'
import { slidingLogAlgorithm } from '../../algorithms/index.js'
import { slidingLogFits, anyIntervalAtMostL, testClockBehind, testWindowProperties } from '../support/algorithms.js'

testWindowProperties(t, slidingLogAlgorithm, slidingLogFits, anyIntervalAtMostL)
testClockBehind(t, slidingLogAlgorithm)
