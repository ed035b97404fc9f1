"""Any painting at once: a feed-forward model for styles it has never seen.

A small encoder maps a picture to features at four resolutions; the style enters at run
time through the features' statistics (mean and covariance: whitening and colouring, Li et
al. 2017, or mean and standard deviation, Huang & Belongie 2017) at every level; one
decoder pass with skip connections paints the transformed features back.  Only photos are
ever trained on (:mod:`painterly.fast.train`): the decoder learns to render the statistics
of other photos.
"""
