"""A literate, tested companion to MCR², ReduNet and V-MCR²: the book and its torch library.

The package `redunet_book` is the library behind the book, exported from its chapters by nbdev:
`redunet_book.rate` (the coding rates R, Rᶜ and the rate reduction ΔR), `redunet_book.operators`
(the expansion and compression operators E, Cʲ and the gradient of ΔR), `redunet_book.vector`
(the vector ReduNet), `redunet_book.spectral` (the shift-invariant ReduNet, 1D and 2D),
`redunet_book.vmcr2` (V-MCR²), and the papers' experiments (`python -m redunet_book.reproduce --list`).
Features are batch first (the code's `Z` is the papers' Zᵀ), a membership is integer labels or
soft rows, and `eps_sq` is ε². `python -m redunet_book.fetch` gets MNIST. The book:
https://redunet-book.github.io/redunet-book/"""

__version__ = "0.0.1"
