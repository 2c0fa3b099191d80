-- A singular test: no product is free or negative.
select * from {{ ref('shop_prices') }} where price_eur <= 0
