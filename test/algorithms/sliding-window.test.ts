import t from 'tap'
import { slidingWindowAlgorithm } from '../../algorithms/index.js'
import { testClockBehind, slidingWindowFits, estimateAtMostL, testWindowProperties } from '../support/algorithms.js'

testWindowProperties(t, slidingWindowAlgorithm, slidingWindowFits, estimateAtMostL)
testClockBehind(t, slidingWindowAlgorithm)
