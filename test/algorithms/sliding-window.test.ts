import t from 'tap'
import { slidingWindowAlgorithm } from '../../algorithms/index.js'
import { testClockBehind, slidingWindowFits, estimateAtMostL, testWindowProperties } from './helpers.js'

testWindowProperties(t, slidingWindowAlgorithm, slidingWindowFits, estimateAtMostL)
testClockBehind(t, slidingWindowAlgorithm)
