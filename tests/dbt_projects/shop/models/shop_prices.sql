-- Prices in euros, through the shop_utils package's macro.
select
    product_id,
    product_name,
    {{ shop_utils.cents_to_euros('price_cents') }} as price_eur
from {{ ref('shop_products') }}
