import t from 'tap'
import { slidingLogAlgorithm } from '../../algorithms/index.js'
import { slidingLogFits, anyIntervalAtMostL, testClockBehind, testWindowProperties } from './helpers.js'

testWindowProperties(t, slidingLogAlgorithm, slidingLogFits, anyIntervalAtMostL)
testClockBehind(t, slidingLogAlgorithm)
